// Build the fingerprint engine into web/static/engine/: `npm ci && node build.mjs`.
//
// Writes worker.js (the engine, one classic-worker bundle), harness.js, the
// decoders' .wasm files, and integrity.json (sha384 of every built file, for
// Subresource Integrity). Refuses any file over 5 MB.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static", "engine");
const MAX_FILE = 5 * 1024 * 1024;
mkdirSync(out, { recursive: true });

// The decoders' glue resolves its .wasm against import.meta.url, even when handed a
// compiled module; a classic worker has no import.meta, so give it the script URL.
const WASM = {
  "mozjpeg_dec.wasm": "node_modules/@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm",
  "webp_dec.wasm": "node_modules/@jsquash/webp/codec/dec/webp_dec.wasm",
};
const sri = (data) => `sha384-${createHash("sha384").update(data).digest("base64")}`;
// The worker checks the decoders it fetches against these digests.
const wasmIntegrity = Object.fromEntries(Object.entries(WASM).map(([n, p]) => [n, sri(readFileSync(join(here, p)))]));
const define = { "import.meta.url": "self.location.href", __WASM_INTEGRITY__: JSON.stringify(wasmIntegrity) };
const common = { define, bundle: true, format: "iife", target: ["chrome109", "firefox115"], minify: true, legalComments: "eof", logLevel: "warning" };
await build({ ...common, entryPoints: [join(here, "src", "worker.js")], outfile: join(out, "worker.js") });
await build({ ...common, entryPoints: [join(here, "src", "harness.js")], outfile: join(out, "harness.js") });
for (const [name, path] of Object.entries(WASM)) copyFileSync(join(here, path), join(out, name));

const integrity = {};
let total = 0;
let gzipped = 0;
for (const name of readdirSync(out).sort()) {
  if (name === "integrity.json") continue;
  const data = readFileSync(join(out, name));
  if (statSync(join(out, name)).size > MAX_FILE) throw new Error(`${name} is over 5 MB`);
  integrity[name] = sri(data);
  total += data.length;
  gzipped += gzipSync(data, { level: 9 }).length;
}
writeFileSync(join(out, "integrity.json"), JSON.stringify(integrity, null, 1) + "\n");
console.log(`web/static/engine: ${Object.keys(integrity).length} files, ${total} bytes, ${gzipped} bytes gzipped`);
