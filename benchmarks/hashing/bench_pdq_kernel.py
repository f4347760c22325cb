"""Scratch benchmark: empreinte PDQ vs the pdqhash 0.2.8 binding (hash only).

Usage: .venv/bin/python benchmarks/hashing/bench_pdq_kernel.py [repeats]

Both hashers get the same decoded RGB array (decoding excluded), single
thread.  Calls alternate between the two so that load from other processes
hits both alike; the table shows the minimum and the median per call.  The
numba compile time is measured in a subprocess with an empty cache.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

from empreinte.hashing.pdq import pdq_from_rgb

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "evaldata" / "threatexchange_pdq"
CASES = {
    "500x375 (crop of aaa-orig)": ("pdq/data/bridge-mods/aaa-orig.jpg", (375, 500)),
    "512x512": ("pdq/data/bridge-mods/square-512x512.jpg", None),
    "1600x1004": ("pdq/data/bridge-mods/aaa-orig.jpg", None),
    "4032x3024": ("pdq/data/reg-test-input/exif-rotn/exif-rotn-1.jpg", None),
}
COLD = (
    "import time, numpy as np; t = time.perf_counter();"
    "from empreinte.hashing.pdq import pdq_from_rgb;"
    "pdq_from_rgb(np.zeros((9, 9, 3), np.uint8)); print(time.perf_counter() - t)"
)


def load(rel: str, crop: tuple[int, int] | None) -> np.ndarray:
    rgb = np.asarray(Image.open(DATA / rel).convert("RGB"))
    if crop is not None:
        rgb = np.ascontiguousarray(rgb[: crop[0], : crop[1]])
    return rgb


def timed(fn: Callable[[np.ndarray], object], rgb: np.ndarray) -> float:
    t0 = time.perf_counter()
    fn(rgb)
    return 1000 * (time.perf_counter() - t0)


def compare(rgb: np.ndarray, repeats: int) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    ref: list[float] = []
    pdq_from_rgb(rgb)
    for _ in range(repeats):
        ours.append(timed(pdq_from_rgb, rgb))
        ref.append(timed(pdqhash.compute, rgb))
    return ours, ref


def cold_compile_seconds() -> float:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run(
            [sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=True
        )
    return float(out.stdout)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    print(f"{'image':28} {'ours min/med ms':>17} {'pdqhash min/med ms':>20} {'ratio(min)':>10}")
    for name, (rel, crop) in CASES.items():
        ours, ref = compare(load(rel, crop), repeats)
        o, r = min(ours), min(ref)
        print(
            f"{name:28} {o:8.2f}/{statistics.median(ours):8.2f} "
            f"{r:9.2f}/{statistics.median(ref):9.2f} {r / o:9.1f}x"
        )
    print(f"cold numba compile + import + first hash: {cold_compile_seconds():.1f} s")


if __name__ == "__main__":
    main()
