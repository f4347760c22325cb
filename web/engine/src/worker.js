/**
 * The fingerprint Web Worker. Messages in:
 *
 *   {type: "hash", jobs: [{key, file}], signals?}   `file` a File, Blob or ArrayBuffer;
 *   `signals` optionally limits the signals computed (measurements only)
 *
 * Messages out, in order, for each job: `{type: "progress", key, stage}`,
 * then `{type: "record", key, record}` or `{type: "refused", key, reason, kind}`;
 * after the batch, `{type: "done", file}` with the fingerprint-file JSON of the
 * records, or `{type: "fatal", reason}` if the decoders cannot start. No byte of an image leaves this worker: it makes no request except
 * for its own WebAssembly decoders, fetched once from the page's origin.
 */

import { initDecoders } from "./decode.js";
import { fingerprintBytes, fingerprintFile } from "./fingerprint.js";

const here = new URL(".", self.location.href);
let ready = null;

/* global __WASM_INTEGRITY__ */
/** sha384 digests of the decoders, written in by the build (Subresource Integrity). */
const INTEGRITY = typeof __WASM_INTEGRITY__ === "object" ? __WASM_INTEGRITY__ : {};

/** Compile the decoders' WebAssembly once, from files beside this script, checked against INTEGRITY. */
function prepare() {
  if (!ready) {
    const compile = (name) =>
      WebAssembly.compileStreaming(fetch(new URL(name, here), { integrity: INTEGRITY[name] || "" }));
    ready = Promise.all([compile("mozjpeg_dec.wasm"), compile("webp_dec.wasm")]).then(([jpeg, webp]) =>
      initDecoders({ jpeg, webp }),
    );
  }
  return ready;
}

async function readBytes(file) {
  if (file instanceof ArrayBuffer) return new Uint8Array(file);
  if (ArrayBuffer.isView(file)) return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  return new Uint8Array(await file.arrayBuffer());
}

async function hashOne(key, file, signals) {
  try {
    self.postMessage({ type: "progress", key, stage: "reading" });
    const bytes = await readBytes(file);
    self.postMessage({ type: "progress", key, stage: "hashing" });
    const record = await fingerprintBytes(bytes, undefined, signals);
    self.postMessage({ type: "record", key, record });
    return record;
  } catch (err) {
    const known = err && err.name === "Refusal";
    const reason = known ? err.message : "this file could not be read (unexpected error)";
    self.postMessage({ type: "refused", key, reason, kind: known ? err.kind : "error" });
    return null;
  }
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (!msg || msg.type !== "hash") return;
  try {
    await prepare();
  } catch (err) {
    self.postMessage({ type: "fatal", reason: `the image decoders could not start (${err})` });
    return;
  }
  const records = [];
  for (const { key, file } of msg.jobs) {
    const record = await hashOne(key, file, msg.signals);
    if (record) records.push(record);
  }
  self.postMessage({ type: "done", file: fingerprintFile(records), count: records.length });
};
