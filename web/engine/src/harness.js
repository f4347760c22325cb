/**
 * Test harness for the fingerprint engine: `window.empreinteHash(jobs, signals)`
 * runs the worker on `[{key, bytes}]` (or `[{key, file}]`), optionally for a
 * subset of the signals, and resolves to
 * `{records: {key: record}, refused: {key: reason}, file, progress, ms}`.
 */

function hashInWorker(jobs, signals) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("worker.js", document.baseURI));
    const out = { records: {}, refused: {}, progress: 0, file: null };
    const start = performance.now();
    worker.onerror = (e) => reject(new Error(e.message || "worker error"));
    worker.onmessage = ({ data }) => {
      if (data.type === "progress") out.progress++;
      else if (data.type === "record") out.records[data.key] = data.record;
      else if (data.type === "refused") out.refused[data.key] = data.reason;
      else if (data.type === "fatal") reject(new Error(data.reason));
      else if (data.type === "done") {
        out.file = data.file;
        out.ms = performance.now() - start;
        worker.terminate();
        resolve(out);
      }
    };
    const list = jobs.map((j) => ({ key: j.key, file: j.file ?? j.bytes }));
    worker.postMessage({ type: "hash", jobs: list, signals });
  });
}

/** Fetch same-origin URLs and hash their bytes: `[{key, url}]`. */
async function hashUrls(items, signals) {
  const jobs = [];
  for (const { key, url } of items) jobs.push({ key, bytes: await (await fetch(url)).arrayBuffer() });
  return hashInWorker(jobs, signals);
}

/** Count animation frames while `fn` runs, to show the page never froze. */
async function withFrameCounter(fn) {
  let frames = 0;
  let longest = 0;
  let last = performance.now();
  let running = true;
  const tick = (t) => {
    longest = Math.max(longest, t - last);
    last = t;
    frames++;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const result = await fn();
  running = false;
  return { result, frames, longestFrameGapMs: longest };
}

window.empreinteHash = hashInWorker;
window.empreinteHashUrls = hashUrls;
window.empreinteWithFrames = withFrameCounter;
document.documentElement.dataset.ready = "1";
