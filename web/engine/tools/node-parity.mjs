// Compare the engine's decoding and PDQ with the CLI's, in Node (developer tool).
// Usage: node tools/node-parity.mjs EXPECTED.json
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { initDecoders, decodeImage } from "../src/decode.js";
import { pdqFromRgb } from "../src/pdq.js";

const wasm = (p) => WebAssembly.compile(readFileSync(new URL(`../node_modules/${p}`, import.meta.url)));
await initDecoders({ jpeg: await wasm("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm"), webp: await wasm("@jsquash/webp/codec/dec/webp_dec.wasm") });
const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const hex = (u) => Buffer.from(u).toString("hex");
let same = 0, rgbSame = 0, n = 0;
for (const [path, e] of Object.entries(expected)) {
  n++;
  let d;
  try { d = await decodeImage(new Uint8Array(readFileSync(path))); } catch (err) {
    console.log("REFUSED", path, err.message, "| cli:", e.error ?? "ok"); continue;
  }
  if (e.error) { console.log("CLI refused", path, e.error); continue; }
  const rgb = createHash("sha256").update(d.rgb).digest("hex");
  const { hash, quality } = pdqFromRgb(d.rgb, d.width, d.height);
  const ok = hex(hash) === e.pdq && quality === e.q;
  same += ok; rgbSame += rgb === e.rgb;
  if (!ok || rgb !== e.rgb) {
    let dist = 0; const a = Buffer.from(e.pdq, "hex");
    for (let i = 0; i < 32; i++) { let x = a[i] ^ hash[i]; while (x) { dist += x & 1; x >>= 1; } }
    console.log("MISS", path, e.mode, d.sourceMode, `${d.width}x${d.height} vs ${e.w}x${e.h}`, "rgb", rgb === e.rgb, "pdq bits", dist, "q", quality, e.q);
  }
}
console.log(`pdq equal ${same}/${n}, rgb equal ${rgbSame}/${n}`);
