/**
 * The victim's page: fingerprint photos in the engine's Web Worker, open a
 * self-service case, check it, withdraw it. The photos are read by the worker
 * only; the only requests this script makes carry fingerprints, the victim's
 * answers, or a case number and PIN, to the API named in <meta name="empreinte-api">
 * (empty: this page's own origin).
 */
"use strict";

(() => {
  const body = document.body;
  const MESSAGES = JSON.parse(body.dataset.messages || "{}");
  const meta = document.querySelector('meta[name="empreinte-api"]');
  const API = ((meta && meta.content) || "").replace(/\/+$/, "");
  const $ = (id) => document.getElementById(id);

  /** Return the message `key`, with `{name}` replaced from `vars`. */
  function t(key, vars = {}) {
    const text = MESSAGES[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  }

  /** Call the API with a JSON body; resolve to its JSON, or throw with the problem's detail. */
  async function call(path, payload) {
    let response;
    try {
      response = await fetch(API + path, {
        method: payload === undefined ? "GET" : "POST",
        headers: payload === undefined ? {} : { "content-type": "application/json" },
        body: payload === undefined ? undefined : JSON.stringify(payload),
        credentials: "omit",
        referrerPolicy: "no-referrer",
        cache: "no-store",
      });
    } catch {
      throw new Error(t("network"));
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || data.title || t("network"));
    return data;
  }

  /** Save `text` as a file named `name` on this device. */
  function save(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  function zeroBits(digest) {
    let count = 0;
    for (const byte of digest) {
      if (byte === 0) {
        count += 8;
        continue;
      }
      return count + Math.clz32(byte) - 24;
    }
    return count;
  }

  /** Find a nonce so that SHA-256(challenge + nonce) starts with `bits` zero bits. */
  async function solve({ challenge, bits }) {
    const encoder = new TextEncoder();
    for (let start = 0; ; start += 256) {
      const tries = [];
      for (let n = start; n < start + 256; n++) {
        tries.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge + n)));
      }
      const digests = await Promise.all(tries);
      const hit = digests.findIndex((d) => zeroBits(new Uint8Array(d)) >= bits);
      if (hit >= 0) return String(start + hit);
    }
  }

  /** Start the engine's worker, after checking its script against its integrity digest. */
  async function startWorker() {
    const url = new URL(body.dataset.worker, document.baseURI);
    const check = await fetch(url, { integrity: body.dataset.workerIntegrity, cache: "no-store" });
    if (!check.ok) throw new Error(`${check.status}`);
    return new Worker(url);
  }

  function protectPage() {
    const input = $("photos");
    const list = $("files");
    const progress = $("progress");
    const progressText = $("progress-text");
    const send = $("send");
    let prints = null;
    let worker = null;

    function item(key, name) {
      const li = document.createElement("li");
      li.dataset.key = key;
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const state = document.createElement("span");
      state.className = "state";
      state.textContent = "…";
      li.append(label, " ", state);
      list.append(li);
      return state;
    }

    async function hash(files) {
      send.hidden = true;
      list.replaceChildren();
      prints = null;
      const states = new Map();
      files.forEach((file, i) => states.set(String(i), item(String(i), file.name)));
      progress.hidden = false;
      progress.max = files.length;
      progress.value = 0;
      if (worker) worker.terminate();
      try {
        worker = await startWorker();
      } catch (err) {
        progressText.textContent = t("cannot_start", { reason: String(err.message || err) });
        return;
      }
      let finished = 0;
      worker.onmessage = ({ data }) => {
        const state = states.get(data.key);
        if (data.type === "progress" && data.stage === "hashing") {
          progressText.textContent = t("hashing", { index: Number(data.key) + 1, total: files.length });
        } else if (data.type === "record") {
          state.textContent = t("ok");
          state.parentElement.className = "ok";
          progress.value = ++finished;
        } else if (data.type === "refused") {
          state.textContent = t("refused", { reason: data.reason });
          state.parentElement.className = "refused";
          progress.value = ++finished;
        } else if (data.type === "fatal") {
          progressText.textContent = t("cannot_start", { reason: data.reason });
        } else if (data.type === "done") {
          progressText.textContent = t("done", { ok: data.count, total: files.length });
          worker.terminate();
          worker = null;
          if (data.count > 0) {
            prints = data.file;
            $("ready-text").textContent = t("ready", { count: data.count });
            send.hidden = false;
          } else {
            progressText.textContent += " " + t("no_prints");
          }
        }
      };
      worker.postMessage({ type: "hash", jobs: files.map((file, i) => ({ key: String(i), file })) });
    }

    input.addEventListener("change", () => hash(Array.from(input.files || [])));

    $("download").addEventListener("click", () => {
      if (!prints) return;
      save("empreinte-fingerprints.json", prints, "application/json");
      $("send-progress").textContent = t("downloaded");
    });

    send.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("send-error");
      error.textContent = "";
      if (!prints) return;
      const consent = $("consent").checked;
      const age = $("age").checked;
      if (!consent || !age) {
        error.textContent = t("required");
        return;
      }
      const button = $("submit");
      button.disabled = true;
      try {
        $("send-progress").textContent = t("working");
        const issued = await call("/v1/self-service/challenge");
        const nonce = await solve(issued);
        $("send-progress").textContent = t("sending");
        const created = await call("/v1/self-service/cases", {
          consent,
          age_confirmed: age,
          challenge: issued.challenge,
          nonce,
          file: JSON.parse(prints),
        });
        showReceipt(created);
      } catch (err) {
        error.textContent = err.message;
        $("send-progress").textContent = "";
      } finally {
        button.disabled = false;
      }
    });
  }

  function showReceipt(created) {
    const date = new Date().toLocaleString(document.documentElement.lang);
    $("case-number").textContent = created.case_number;
    $("case-pin").textContent = created.pin;
    $("case-count").textContent = String(created.accepted);
    $("case-date").textContent = date;
    $("pick").hidden = true;
    $("send").hidden = true;
    const receipt = $("receipt");
    receipt.hidden = false;
    receipt.focus();
    $("print").addEventListener("click", () => window.print());
    $("save").addEventListener("click", () => {
      const url = new URL("status.html", document.baseURI).href;
      const text = t("receipt_file", {
        number: created.case_number,
        pin: created.pin,
        count: created.accepted,
        date,
        url,
      });
      save(`empreinte-${created.case_number}.txt`, text, "text/plain");
    });
  }

  /** Wire the case-number-and-PIN form to `path`; `show` renders the answer. */
  function credentialsPage(path, show) {
    const form = $("credentials");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("form-error");
      error.textContent = "";
      const sure = $("sure");
      if (sure && !sure.checked) {
        error.textContent = t("required");
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const answer = await call(path, { case_number: $("number").value.trim(), pin: $("pin").value.trim() });
        $("pin").value = "";
        show(answer);
        $("result").hidden = false;
      } catch (err) {
        error.textContent = err.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  const page = body.dataset.page;
  if (page === "index.html") protectPage();
  if (page === "status.html") {
    credentialsPage("/v1/case-status", (s) => {
      $("r-number").textContent = s.case_number;
      $("r-status").textContent = s.status;
      $("r-fingerprints").textContent = String(s.fingerprints);
      $("r-matches").textContent = String(s.matches);
      $("r-explain").textContent = t(`case_status.${s.status}`);
    });
  }
  if (page === "withdraw.html") {
    credentialsPage("/v1/case-withdrawal", (s) => {
      if (s.status !== "withdrawn") throw new Error(t("network"));
      $("credentials").hidden = true;
      $("r-explain").textContent = t("withdrawn", { number: s.case_number });
    });
  }
  document.documentElement.dataset.ready = "1";
})();
