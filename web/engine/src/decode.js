/**
 * Decode untrusted image bytes into upright 8-bit RGB, as `hashing/decode.py`
 * (pipeline `empreinte-image-v1`) does with Pillow, without any canvas:
 * JPEG and WebP through WebAssembly builds of libjpeg-turbo (MozJPEG) and
 * libwebp, PNG in plain JavaScript. Pixels then follow Pillow's
 * `convert("RGB")` for the source mode (alpha dropped, palette looked up,
 * 16-bit grey scaled, 16-bit colour truncated to its high byte).
 */

import decodeJpegWasm, { init as initJpeg } from "@jsquash/jpeg/decode.js";
import decodeWebpWasm, { init as initWebp } from "@jsquash/webp/decode.js";
import { decode as decodePngJs } from "fast-png";
import { applyOrientation, orientation } from "./exif.js";
import { headerSize, Refusal, sniff } from "./sniff.js";

export const PIPELINE = "empreinte-image-v1";
export const DEFAULT_LIMITS = Object.freeze({ maxBytes: 64 * 1024 * 1024, maxPixels: 100_000_000 });

const fmt = (n) => n.toLocaleString("en-US");

/** libjpeg's warnings during the current decode (it reports truncation only as a warning). */
const jpegWarnings = [];
const quiet = { print: () => {}, printErr: () => {} };

/** Give the decoders their compiled WebAssembly modules: `{jpeg, webp}`. */
export async function initDecoders(modules) {
  await Promise.all([
    initJpeg(modules.jpeg, { ...quiet, printErr: (text) => jpegWarnings.push(String(text)) }),
    initWebp(modules.webp, quiet),
  ]);
}

/** Check byte count, format and header dimensions; return `{format, mediaType}`. */
export function checkHeader(bytes, limits = DEFAULT_LIMITS) {
  if (bytes.length === 0) throw new Refusal("empty file (0 bytes)", "empty");
  if (bytes.length > limits.maxBytes) {
    throw new Refusal(`file is ${fmt(bytes.length)} bytes, over the limit of ${fmt(limits.maxBytes)} bytes`, "too-large");
  }
  const kind = sniff(bytes);
  const size = headerSize(kind.format, bytes);
  if (size === null) {
    throw new Refusal(`${kind.format} images cannot be read in the browser yet; use the empreinte hash command`, "unsupported");
  }
  const { width, height } = size;
  if (!(width > 0 && height > 0)) throw new Refusal(`image has no pixels (${width}x${height})`);
  if (width * height > limits.maxPixels) {
    throw new Refusal(
      `image is ${width}x${height} = ${fmt(width * height)} pixels, over the limit of ${fmt(limits.maxPixels)} (possible decompression bomb)`,
      "too-large",
    );
  }
  return { ...kind, ...size };
}

/** Drop every channel after the first three of `n` pixels of `channels` bytes. */
function dropToRgb(data, n, channels) {
  // A plain byte view: the decoders return Uint8ClampedArray, slower to read in V8.
  const src = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint8Array(n * 3);
  for (let p = 0, s = 0, d = 0; p < n; p++, s += channels, d += 3) {
    out[d] = src[s];
    out[d + 1] = src[s + 1];
    out[d + 2] = src[s + 2];
  }
  return out;
}

/** Replicate the first channel of `n` pixels of `channels` values, mapped through `map`. */
function greyToRgb(src, n, channels, map) {
  const out = new Uint8Array(n * 3);
  for (let p = 0, s = 0, d = 0; p < n; p++, s += channels, d += 3) {
    const v = map(src[s]);
    out[d] = v;
    out[d + 1] = v;
    out[d + 2] = v;
  }
  return out;
}

/** Decode a JPEG with libjpeg-turbo's islow IDCT and fancy upsampling, as Pillow does. */
async function decodeJpeg(bytes, head) {
  if (head.components === 4) {
    throw new Refusal("CMYK JPEG images cannot be read in the browser yet; use the empreinte hash command");
  }
  let img;
  jpegWarnings.length = 0;
  try {
    img = await decodeJpegWasm(bytes, { preserveOrientation: false });
  } catch {
    throw new Refusal("corrupt or truncated image data (JPEG)", "corrupt");
  }
  // Pillow refuses a JPEG whose data ends before the image does; libjpeg only warns.
  if (jpegWarnings.some((w) => w.includes("Premature end of JPEG file"))) {
    throw new Refusal("corrupt or truncated image data (the JPEG file is truncated)", "corrupt");
  }
  const mode = head.components === 1 ? "L" : "RGB";
  return { rgb: dropToRgb(img.data, img.width * img.height, 4), width: img.width, height: img.height, mode };
}

/** Decode a WebP with libwebp (RGBA out, alpha then dropped). */
async function decodeWebp(bytes) {
  let img;
  try {
    img = await decodeWebpWasm(bytes);
  } catch {
    throw new Refusal("corrupt or truncated image data (WebP)", "corrupt");
  }
  if (!img || !img.width) throw new Refusal("corrupt or truncated image data (WebP)", "corrupt");
  return { rgb: dropToRgb(img.data, img.width * img.height, 4), width: img.width, height: img.height, mode: "RGBA" };
}

/** Unpack `depth`-bit samples (1, 2 or 4) of one-channel rows into one byte each. */
function unpackLowDepth(data, width, height, depth) {
  const stride = Math.ceil((width * depth) / 8);
  const out = new Uint8Array(width * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (data[y * stride + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** Look indices up in a PNG palette on Pillow's default greyscale ramp. */
function paletteToRgb(indices, n, palette) {
  const table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) table.fill(i, 3 * i, 3 * i + 3);
  palette.forEach((c, i) => table.set(c.slice(0, 3), 3 * i));
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const t = indices[p] * 3;
    out[3 * p] = table[t];
    out[3 * p + 1] = table[t + 1];
    out[3 * p + 2] = table[t + 2];
  }
  return out;
}

/** Decode a PNG and convert it as Pillow opens it (its `_MODES`) then `convert("RGB")`. */
function decodePng(bytes) {
  let png;
  try {
    png = decodePngJs(bytes);
  } catch {
    throw new Refusal("corrupt or truncated image data (PNG)", "corrupt");
  }
  const { width, height, depth, channels, data } = png;
  const n = width * height;
  const expected = depth < 8 ? Math.ceil((width * depth) / 8) * height : n * channels;
  if (!data || data.length < expected) throw new Refusal("corrupt or truncated image data (PNG)", "corrupt");
  if (png.palette) {
    const idx = depth < 8 ? unpackLowDepth(data, width, height, depth) : data;
    return { rgb: paletteToRgb(idx, n, png.palette), width, height, mode: "P" };
  }
  if (depth < 8) {
    const scale = { 1: 255, 2: 85, 4: 17 }[depth];
    const grey = unpackLowDepth(data, width, height, depth);
    return { rgb: greyToRgb(grey, n, 1, (v) => v * scale), width, height, mode: depth === 1 ? "1" : "L" };
  }
  if (depth === 16) {
    if (channels === 1) {
      // I;16 in decode.py: scaled from 0-65535 to 0-255, not clipped.
      return { rgb: greyToRgb(data, n, 1, (v) => Math.floor((v * 255) / 65535)), width, height, mode: "I;16" };
    }
    // RGB;16B, RGBA;16B, LA;16B: Pillow keeps each sample's high byte.
    const high = (v) => v >> 8;
    if (channels === 2) return { rgb: greyToRgb(data, n, 2, high), width, height, mode: "RGBA" };
    const rgb = new Uint8Array(n * 3);
    for (let p = 0, s = 0; p < n; p++, s += channels) {
      rgb[3 * p] = data[s] >> 8;
      rgb[3 * p + 1] = data[s + 1] >> 8;
      rgb[3 * p + 2] = data[s + 2] >> 8;
    }
    return { rgb, width, height, mode: channels === 4 ? "RGBA" : "RGB" };
  }
  if (channels === 1 || channels === 2) {
    return { rgb: greyToRgb(data, n, channels, (v) => v), width, height, mode: channels === 1 ? "L" : "LA" };
  }
  const rgb = channels === 3 ? Uint8Array.from(data.subarray(0, n * 3)) : dropToRgb(data, n, 4);
  return { rgb, width, height, mode: channels === 3 ? "RGB" : "RGBA" };
}

/**
 * Decode `bytes` with the pinned pipeline: `{rgb, width, height, mediaType, sourceMode}`.
 *
 * Throws a {@link Refusal} with a human reason for anything that is not a
 * readable image within `limits`.
 */
export async function decodeImage(bytes, limits = DEFAULT_LIMITS) {
  const head = checkHeader(bytes, limits);
  let img;
  if (head.format === "JPEG") img = await decodeJpeg(bytes, head);
  else if (head.format === "WEBP") img = await decodeWebp(bytes);
  else if (head.format === "PNG") img = decodePng(bytes);
  else throw new Refusal(`${head.format} images cannot be read in the browser yet; use the empreinte hash command`);
  if (img.width !== head.width || img.height !== head.height) {
    throw new Refusal("corrupt image data (decoded size differs from the header)", "corrupt");
  }
  const upright = applyOrientation(img.rgb, img.width, img.height, orientation(head.format, bytes));
  return { ...upright, mediaType: head.mediaType, sourceMode: img.mode };
}

export { Refusal };
