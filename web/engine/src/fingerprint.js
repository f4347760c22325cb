/**
 * Turn image bytes into a fingerprint record, field for field as
 * `hashing/fingerprint.py` and `hashing/fingerprint_file.py` write it:
 * a random id, media type, size, pipeline and signals, and nothing that
 * names the file.
 */

import { decodeImage, PIPELINE } from "./decode.js";
import { compatGrey, dhash, phash, whash } from "./imagehash.js";
import { md5 } from "./md5.js";
import { orbFeatures } from "./orb.js";
import { pdqFromRgb } from "./pdq.js";

export const FORMAT = "empreinte-fingerprints";
export const VERSION = 2;
export const GENERATOR = "empreinte-web 0.1.0";

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Encode bytes as base64 (standard alphabet, padded), as Python's `b64encode`. */
function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** Return the SHA-256 of `bytes` through WebCrypto. */
async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export const SIGNALS = Object.freeze(["pdq", "phash", "dhash", "whash", "sha256", "md5", "orb"]);

/**
 * Compute the record of one image (`bytes`, a Uint8Array).
 *
 * `only` limits the signals computed (a subset of {@link SIGNALS}, for
 * measurements); a record for registration needs them all, the default.
 * Throws a Refusal (with `.message` for a person) for anything the pipeline
 * does not read.
 */
export async function fingerprintBytes(bytes, limits, only = SIGNALS) {
  const img = await decodeImage(bytes, limits);
  const want = new Set(only);
  const { hash, quality } = pdqFromRgb(img.rgb, img.width, img.height);
  const g = want.has("phash") || want.has("dhash") || want.has("whash") ? compatGrey(img.rgb, img.width, img.height) : null;
  const make = {
    pdq: () => ({ value: hex(hash), quality }),
    phash: () => ({ value: hex(phash(g.data, g.width, g.height)), quality }),
    dhash: () => ({ value: hex(dhash(g.data, g.width, g.height)), quality }),
    whash: () => ({ value: hex(whash(g.data, g.width, g.height)), quality }),
    sha256: async () => ({ value: hex(await sha256(bytes)), quality: null }),
    md5: () => ({ value: hex(md5(bytes)), quality: null }),
    orb: () => ({ value: base64(orbFeatures(img.rgb, img.width, img.height).bytes), quality: null }),
  };
  const signals = [];
  for (const type of SIGNALS) if (want.has(type)) signals.push({ type, ...(await make[type]()) });
  return {
    id: crypto.randomUUID(),
    media_type: img.mediaType,
    width: img.width,
    height: img.height,
    pipeline: PIPELINE,
    signals,
  };
}

/** Wrap records into a fingerprint file (JSON text, as `fingerprint_file.dumps`). */
export function fingerprintFile(records) {
  return JSON.stringify({ format: FORMAT, version: VERSION, generator: GENERATOR, records }, null, 1) + "\n";
}
