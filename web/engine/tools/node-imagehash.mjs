// Compare the engine's pHash, dHash and wHash with the CLI's, in Node (developer tool).
// Usage: node tools/node-imagehash.mjs EXPECTED.json
import { readFileSync } from "node:fs";
import { initDecoders, decodeImage } from "../src/decode.js";
import { compatGrey, dhash, phash, whash } from "../src/imagehash.js";

const wasm = (p) => WebAssembly.compile(readFileSync(new URL(`../node_modules/${p}`, import.meta.url)));
await initDecoders({ jpeg: await wasm("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm"), webp: await wasm("@jsquash/webp/codec/dec/webp_dec.wasm") });
const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const hex = (u) => Buffer.from(u).toString("hex");
const same = { phash: 0, dhash: 0, whash: 0 };
let n = 0;
for (const [path, e] of Object.entries(expected)) {
  let d;
  try { d = await decodeImage(new Uint8Array(readFileSync(path))); } catch { continue; }
  n++;
  const g = compatGrey(d.rgb, d.width, d.height);
  const got = { phash: phash(g.data, g.width, g.height), dhash: dhash(g.data, g.width, g.height), whash: whash(g.data, g.width, g.height) };
  for (const k of Object.keys(same)) {
    if (hex(got[k]) === e[k]) same[k]++;
    else console.log("MISS", k, path, hex(got[k]), e[k]);
  }
}
console.log(`of ${n}:`, JSON.stringify(same));
