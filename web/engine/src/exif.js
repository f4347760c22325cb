/**
 * Find the EXIF orientation tag (0x0112) of JPEG, PNG and WebP files and turn
 * pixels upright as Pillow's `ImageOps.exif_transpose` does.
 */

const ascii = (b, at, n) => String.fromCharCode(...b.subarray(at, at + n));

/** Read the Orientation of a TIFF-structured EXIF block starting at `b[0]`; 1 when absent. */
export function tiffOrientation(b) {
  if (b.length < 8) return 1;
  const little = b[0] === 0x49 && b[1] === 0x49;
  if (!little && !(b[0] === 0x4d && b[1] === 0x4d)) return 1;
  const u16 = (i) => (little ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
  const u32 = (i) => (little ? u16(i) + u16(i + 2) * 65536 : u16(i) * 65536 + u16(i + 2));
  const ifd = u32(4);
  if (ifd + 2 > b.length) return 1;
  const n = u16(ifd);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > b.length) return 1;
    if (u16(e) !== 0x0112) continue;
    const type = u16(e + 2);
    if (type === 3) return u16(e + 8);
    if (type === 4) return u32(e + 8);
    if (type === 1) return b[e + 8];
    return 1;
  }
  return 1;
}

/** Return the EXIF block (TIFF header first) of the first JPEG APP1 "Exif" segment. */
function jpegExif(b) {
  let i = 2;
  while (i + 4 < b.length && b[i] === 0xff) {
    const m = b[i + 1];
    if (m === 0xda || m === 0xd9) break;
    const len = (b[i + 2] << 8) | b[i + 3];
    if (m === 0xe1 && ascii(b, i + 4, 6) === "Exif\0\0") return b.subarray(i + 10, i + 2 + len);
    i += 2 + len;
  }
  return null;
}

/** Return the data of the first chunk named `name` of a PNG (big-endian lengths). */
function pngChunk(b, name) {
  let i = 8;
  while (i + 8 <= b.length) {
    const len = ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
    const type = ascii(b, i + 4, 4);
    if (type === name) return b.subarray(i + 8, i + 8 + len);
    if (type === "IEND") break;
    i += 12 + len;
  }
  return null;
}

/** Return the data of the RIFF chunk named `name` of a WebP. */
function webpChunk(b, name) {
  let i = 12;
  while (i + 8 <= b.length) {
    const len = b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24);
    if (ascii(b, i, 4) === name) return b.subarray(i + 8, i + 8 + len);
    i += 8 + len + (len & 1);
  }
  return null;
}

/** Return the EXIF orientation (1-8) of an encoded image; 1 when it has none. */
export function orientation(format, b) {
  let block = null;
  if (format === "JPEG") block = jpegExif(b);
  else if (format === "PNG") block = pngChunk(b, "eXIf");
  else if (format === "WEBP") {
    block = webpChunk(b, "EXIF");
    if (block && ascii(block, 0, 6) === "Exif\0\0") block = block.subarray(6);
  }
  return block ? tiffOrientation(block) : 1;
}

/**
 * Apply `orientation` to interleaved RGB pixels: `{rgb, width, height}` upright.
 *
 * The transposes of Pillow's `exif_transpose`: 2 mirror, 3 rotate 180, 4 flip,
 * 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise.
 */
export function applyOrientation(rgb, width, height, o) {
  if (!(o >= 2 && o <= 8)) return { rgb, width, height };
  const swap = o >= 5;
  const ow = swap ? height : width;
  const oh = swap ? width : height;
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx;
      let sy;
      switch (o) {
        case 2: sx = width - 1 - x; sy = y; break;
        case 3: sx = width - 1 - x; sy = height - 1 - y; break;
        case 4: sx = x; sy = height - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = height - 1 - x; break;
        case 7: sx = width - 1 - y; sy = height - 1 - x; break;
        default: sx = width - 1 - y; sy = x; break;
      }
      const s = (sy * width + sx) * 3;
      const d = (y * ow + x) * 3;
      out[d] = rgb[s];
      out[d + 1] = rgb[s + 1];
      out[d + 2] = rgb[s + 2];
    }
  }
  return { rgb: out, width: ow, height: oh };
}
