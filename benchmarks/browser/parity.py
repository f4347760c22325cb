"""Measure the in-browser engine against the CLI, per browser and mode.

    python -m benchmarks.browser.parity [--imagenet N] [--full N]

Prints, for Chromium and Firefox, normal and private:

* PDQ parity on every image of ``threatexchange_pdq`` and of ``imagenet_sample``
  (or its first N), with the bit distance of every miss;
* pHash, dHash, wHash and ORB parity on the first ``--full`` imagenet images
  (ORB as the share of the CLI's (descriptor, position) pairs the page made);
* the time to hash a 12 MP JPEG in the worker (median of 3, after a warm-up);
* the engine's weight (bytes, gzipped) as served.

Run ``cd web/engine && npm ci && node build.mjs`` first.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from empreinte.hashing.decode import decode
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.hashing.pdq import pdq_from_rgb
from tests.browsers.conftest import ENGINE
from tests.browsers.drivers import MODES, Browser, missing, open_browser
from tests.browsers.static import StaticSite, serve
from tests.conftest import EVALDATA, encode, photo

BATCH = 100


def popcount_distance(a: str, b: str) -> int:
    """Return the Hamming distance of two hex strings of the same length."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def hash_batch(page: Browser, site: StaticSite, paths: list[Path], only: list[str] | None) -> Any:
    items = [{"key": str(i), "url": site.add(f"/b/{i}", p)} for i, p in enumerate(paths)]
    signals = json.dumps(only) if only else "undefined"
    return page.evaluate(f"window.empreinteHashUrls({json.dumps(items)}, {signals})", 1800)


def pdq_parity(page: Browser, site: StaticSite, paths: list[Path], want: dict[Path, str]) -> str:
    """Return 'equal/total' and the misses (name: bit distance or refusal)."""
    equal, misses = 0, []
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        out = hash_batch(page, site, chunk, ["pdq"])
        for i, path in enumerate(chunk):
            record = out["records"].get(str(i))
            if record is None:
                misses.append(f"{path.name}: refused ({out['refused'].get(str(i))})")
                continue
            got = record["signals"][0]["value"]
            if got == want[path]:
                equal += 1
            else:
                misses.append(f"{path.name}: {popcount_distance(got, want[path])} bits")
    return f"{equal}/{len(paths)}" + (f"; misses: {', '.join(misses)}" if misses else "")


def orb_pairs(text: str) -> set[bytes]:
    raw = base64.b64decode(text)
    n = raw[4] | (raw[5] << 8)
    desc, pts = raw[8 : 8 + 32 * n], raw[8 + 32 * n :]
    return {desc[32 * i : 32 * i + 32] + pts[2 * i : 2 * i + 2] for i in range(n)}


def full_parity(page: Browser, site: StaticSite, paths: list[Path], want: dict[Path, Any]) -> str:
    """Compare every signal of the records; ORB as shared (descriptor, position) pairs."""
    same = {"phash": 0, "dhash": 0, "whash": 0, "sha256": 0, "md5": 0}
    orb_common = orb_total = orb_identical = 0
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        out = hash_batch(page, site, chunk, None)
        for i, path in enumerate(chunk):
            got = {s["type"]: s["value"] for s in out["records"][str(i)]["signals"]}
            for kind in same:
                same[kind] += got[kind] == want[path][kind]
            mine, theirs = orb_pairs(got["orb"]), orb_pairs(want[path]["orb"])
            orb_common += len(mine & theirs)
            orb_total += len(theirs)
            orb_identical += got["orb"] == want[path]["orb"]
    n = len(paths)
    parts = [f"{k} {v}/{n}" for k, v in same.items()]
    share = 100 * orb_common / max(orb_total, 1)
    parts.append(
        f"orb identical {orb_identical}/{n}, pairs {orb_common}/{orb_total} ({share:.1f}%)"
    )
    return "; ".join(parts)


def timing(page: Browser, site: StaticSite, data: bytes) -> str:
    """Median worker time (ms) to hash ``data`` with every signal, after a warm-up."""
    site.add("/b/big", data)
    runs = []
    for _ in range(4):
        out = page.evaluate("window.empreinteHashUrls([{key: 'big', url: '/b/big'}])", 600)
        runs.append(float(out["ms"]))
    return f"{statistics.median(runs[1:]):.0f} ms (runs: {', '.join(f'{r:.0f}' for r in runs)})"


def weight() -> str:
    files = sorted(p for p in ENGINE.iterdir() if p.name != "harness.html")
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
    return f"{len(files)} files, {raw:,} bytes, {packed:,} bytes gzipped"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imagenet", type=int, default=0, help="first N imagenet images (0: all)")
    parser.add_argument("--full", type=int, default=100, help="images for the all-signal parity")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    te = sorted(
        p
        for p in (EVALDATA / "threatexchange_pdq").rglob("*")
        if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    imagenet = sorted((EVALDATA / "imagenet_sample").glob("*.JPEG"))
    if args.imagenet:
        imagenet = imagenet[: args.imagenet]
    full = imagenet[: args.full]
    pdq = {p: pdq_from_rgb(decode(p.read_bytes()).rgb)[0].hex() for p in te + imagenet}
    records = {}
    for p in full:
        fp = fingerprint_bytes(p.read_bytes())
        records[p] = {str(s.type): str(s.value) for s in fp.signals}
        records[p]["orb"] = fp.features.to_text() if fp.features else ""
    big = encode(photo(10, (4000, 3000)), "JPEG", quality=92)
    print(f"engine weight: {weight()}")
    print("| browser, mode | threatexchange_pdq PDQ | imagenet_sample PDQ | all signals | 12 MP |")
    print("|---|---|---|---|---|")
    with serve(ENGINE) as site, sync_playwright() as driver:
        for mode in args.modes.split(","):
            if missing(mode):
                print(f"| {mode} | skipped: {missing(mode)} | | | |")
                continue
            with (
                tempfile.TemporaryDirectory() as profile,
                open_browser(mode, Path(profile), driver) as page,
            ):
                page.goto(f"{site.base}/harness.html")
                row = [
                    pdq_parity(page, site, te, pdq),
                    pdq_parity(page, site, imagenet, pdq),
                    full_parity(page, site, full, records),
                    timing(page, site, big),
                ]
                errors = page.console_errors()
            print(f"| {mode} | " + " | ".join(row) + " |", flush=True)
            if errors:
                print(f"  console errors in {mode}: {errors}")


if __name__ == "__main__":
    main()
