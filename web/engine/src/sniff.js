/**
 * Recognise an image format from its bytes (never its name) and read its
 * dimensions from the header, before any decoder runs, as `hashing/decode.py`.
 */

/** Raised for input the engine refuses; `reason` is a sentence for a person. */
export class Refusal extends Error {
  constructor(reason, kind = "unsupported") {
    super(reason);
    this.name = "Refusal";
    this.kind = kind;
  }
}

const ascii = (b, at, n) => String.fromCharCode(...b.subarray(at, at + n));
const be16 = (b, i) => (b[i] << 8) | b[i + 1];
const be32 = (b, i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
const le16 = (b, i) => b[i] | (b[i + 1] << 8);
const le24 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const le32 = (b, i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + b[i + 3] * 2 ** 24;

/** Name what the bytes are, for a refusal that says more than "not an image". */
function describeOther(b) {
  if (ascii(b, 0, 5) === "%PDF-") return "a PDF document, not an image";
  if (ascii(b, 4, 4) === "ftyp") return "a video, not a still image";
  if (be32(b, 0) === 0x1a45dfa3) return "a video (WebM/Matroska), not a still image";
  if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "AVI ") return "a video (AVI), not a still image";
  if (b[0] === 0x50 && b[1] === 0x4b && b[2] === 3 && b[3] === 4) return "an archive (ZIP), not an image";
  return "not an image, or a format Empreinte does not read";
}

const HEIF_BRANDS = new Set(["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif"]);

/** Return `{format, mediaType}` for the bytes, or throw a Refusal. */
export function sniff(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { format: "JPEG", mediaType: "image/jpeg" };
  if (b.length >= 8 && be32(b, 0) === 0x89504e47 && be32(b, 4) === 0x0d0a1a0a) return { format: "PNG", mediaType: "image/png" };
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return { format: "WEBP", mediaType: "image/webp" };
  if (b.length >= 6 && (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a")) return { format: "GIF", mediaType: "image/gif" };
  if (b.length >= 2 && ascii(b, 0, 2) === "BM") return { format: "BMP", mediaType: "image/bmp" };
  if (b.length >= 4 && (ascii(b, 0, 4) === "II*\0" || ascii(b, 0, 4) === "MM\0*")) return { format: "TIFF", mediaType: "image/tiff" };
  if (b.length >= 12 && ascii(b, 4, 4) === "ftyp" && HEIF_BRANDS.has(ascii(b, 8, 4))) return { format: "HEIF", mediaType: "image/heif" };
  throw new Refusal(describeOther(b));
}

/** Read a JPEG's dimensions from its first SOF marker. */
function jpegSize(b) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) { i++; continue; }
    const m = b[i + 1];
    if (m === 0xff) { i++; continue; }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
    const len = be16(b, i + 2);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { width: be16(b, i + 7), height: be16(b, i + 5), components: b[i + 9] };
    }
    if (m === 0xd9 || m === 0xda) break;
    i += 2 + len;
  }
  throw new Refusal("corrupt image header (no JPEG frame header)");
}

/** Read a WebP's dimensions from its VP8, VP8L or VP8X chunk. */
function webpSize(b) {
  const kind = ascii(b, 12, 4);
  if (kind === "VP8X" && b.length >= 30) return { width: 1 + le24(b, 24), height: 1 + le24(b, 27) };
  if (kind === "VP8 " && b.length >= 30) return { width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
  if (kind === "VP8L" && b.length >= 25) {
    const v = le32(b, 21);
    return { width: 1 + (v & 0x3fff), height: 1 + (Math.floor(v / 2 ** 14) & 0x3fff) };
  }
  throw new Refusal("corrupt image header (unknown WebP chunk)");
}

/** Read a BMP's dimensions from its info header. */
function bmpSize(b) {
  if (b.length < 26) throw new Refusal("corrupt image header (truncated BMP)");
  const size = le32(b, 14);
  if (size === 12) return { width: le16(b, 18), height: le16(b, 20) };
  const h = le32(b, 22) | 0;
  return { width: le32(b, 18) | 0, height: Math.abs(h) };
}

/** Return `{width, height}` from the header of a sniffed format, or throw a Refusal. */
export function headerSize(format, b) {
  switch (format) {
    case "JPEG": return jpegSize(b);
    case "PNG":
      if (b.length < 24 || ascii(b, 12, 4) !== "IHDR") throw new Refusal("corrupt image header (no PNG IHDR)");
      return { width: be32(b, 16), height: be32(b, 20) };
    case "WEBP": return webpSize(b);
    case "GIF":
      if (b.length < 10) throw new Refusal("corrupt image header (truncated GIF)");
      return { width: le16(b, 6), height: le16(b, 8) };
    case "BMP": return bmpSize(b);
    default: return null;
  }
}
