// Compare the engine's ORB features with the CLI's, in Node (developer tool).
// Usage: node tools/node-orb.mjs EXPECTED.json   (made by benchmarks/browser tooling)
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { initDecoders, decodeImage } from "../src/decode.js";
import { cvGrey, orbFeatures, resizeArea } from "../src/orb.js";

const wasm = (p) => WebAssembly.compile(readFileSync(new URL(`../node_modules/${p}`, import.meta.url)));
await initDecoders({ jpeg: await wasm("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm"), webp: await wasm("@jsquash/webp/codec/dec/webp_dec.wasm") });
const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const parse = (b) => {
  const n = b[4] | (b[5] << 8);
  const set = new Set();
  for (let i = 0; i < n; i++) set.add(Buffer.from(b.subarray(8 + 32 * i, 40 + 32 * i)).toString("hex") + ":" + b[8 + 32 * n + 2 * i] + "," + b[9 + 32 * n + 2 * i]);
  return { n, set, head: Buffer.from(b.subarray(0, 8)).toString("hex") };
};
let greySame = 0, total = 0, same = 0, theirs = 0, mine = 0, files = 0, exact = 0;
for (const [path, e] of Object.entries(expected)) {
  files++;
  const d = await decodeImage(new Uint8Array(readFileSync(path)));
  const grey = cvGrey(d.rgb, d.width * d.height);
  const g = e.gw === d.width ? grey : resizeArea(grey, d.width, d.height, e.gw, e.gh);
  greySame += createHash("sha256").update(g).digest("hex") === e.gray;
  const got = parse(orbFeatures(d.rgb, d.width, d.height).bytes);
  const want = parse(Buffer.from(e.feat, "base64"));
  let common = 0;
  for (const k of got.set) if (want.set.has(k)) common++;
  same += common; theirs += want.n; mine += got.n;
  exact += common === want.n && got.n === want.n && got.head === want.head;
  if (process.env.VERBOSE) console.log(path.split("/").pop(), got.head, want.head, got.n, want.n, common);
}
console.log(`files ${files}: grey equal ${greySame}, features identical in ${exact}; ` +
  `${same} of the CLI's ${theirs} (descriptor, position) pairs found (${(100 * same / theirs).toFixed(1)}%), engine made ${mine}`);
