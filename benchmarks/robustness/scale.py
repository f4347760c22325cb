# ruff: noqa: E501
"""Scale table: memory per registered image and query time with 10k-1M registered images.

Synthetic registered images hold 256 descriptors drawn at random from the features
of 400 other photos (indices 600-999), each with about 12 % of its bits flipped,
and the keypoint layout of one of those photos: the descriptor distribution (and so
the IVF list balance) stays realistic while no synthetic image matches a query. The real registered photos are added
among them, and transformed copies (crop 60 %, feed screenshot) are queried.

Usage::

    .venv/bin/python -m benchmarks.robustness.scale --sizes 10000,100000 [--queries 60]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import cv2
import faiss
import numpy as np
from PIL import Image

from benchmarks.robustness.transforms import FAMILIES
from empreinte.hashing.robust.features import LocalFeatures, extract
from empreinte.hashing.robust.matcher import RobustMatcher

EVAL = Path(__file__).resolve().parents[2].parent / "shared" / "evaldata"


def synthetic(
    pool: np.ndarray, shapes: list[LocalFeatures], n: int, rng: np.random.Generator
) -> list[LocalFeatures]:
    """n fake feature sets: 256 descriptors drawn from ``pool`` with 12 % of bits flipped."""
    out = []
    for _ in range(n):
        src = shapes[int(rng.integers(len(shapes)))]
        rows = pool[rng.integers(0, len(pool), len(src))]
        flips = rng.random((len(src), 256)) < 0.12
        desc = np.bitwise_xor(rows, np.packbits(flips, axis=1))
        out.append(LocalFeatures(desc, src.points.copy(), src.width_q, src.height_q, src.grid_bits))
    return out


def scale_table(sizes: list[int], state: object | None = None, n_queries: int = 60) -> None:
    del state
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
    files = sorted((EVAL / "imagenet_sample").glob("*.JPEG"))
    reg = [Image.open(p).convert("RGB") for p in files[:n_queries]]
    pool = [Image.open(p).convert("RGB") for p in files[500:600]]
    real = [extract(np.asarray(im)) for im in reg]
    # synthetic fill from photos that are neither registered nor used in the queries
    base = [extract(np.asarray(Image.open(p).convert("RGB"))) for p in files[600:1000]]
    base_desc = np.concatenate([b.descriptors for b in base])
    rng = np.random.default_rng(0)
    queries = []
    for i, im in enumerate(reg):
        fam = "crop_60" if i % 2 else "feed_screenshot"
        queries.append((i, np.asarray(FAMILIES[fam](im, np.random.default_rng(i), pool))))
    print(
        "\nscale: registered | index | nprobe | build s | index bytes/image | recall | query ms (mean/p95)"
    )
    for n in sizes:
        nlist = int(min(4096, max(256, 2 ** round(np.log2(np.sqrt(n * 256))))))
        m = RobustMatcher(index="ivf", nlist=nlist, nprobe=8)
        t0 = time.perf_counter()
        for i, f in enumerate(real):
            m.add(str(i), f)
        done = len(real)
        while done < n:
            batch = synthetic(base_desc, base, min(5000, n - done), rng)
            for f in batch:
                m.add(f"s{done}", f)
                done += 1
        m._desc_index.search(np.zeros((1, 32), np.uint8), 1)  # flush and train
        build = time.perf_counter() - t0
        per_image = m._desc_index.memory_bytes() / n
        for nprobe in (8, 32):
            idx = m._desc_index.index
            if hasattr(idx, "nprobe"):
                idx.nprobe = nprobe
            hits, times = 0, []
            for i, q in queries:
                t1 = time.perf_counter()
                res = m.query(q, signals=("orb",))
                times.append(time.perf_counter() - t1)
                hits += any(r.fingerprint_id == str(i) for r in res)
            ms = np.array(times) * 1000
            print(
                f"  {n:>9,d} | IVF{nlist} | {nprobe:>3d} | {build:7.0f} | {per_image:>8.0f} "
                f"(+{len(real[0].to_bytes())} features) | {hits / len(queries):.3f} | "
                f"{ms.mean():.0f}/{np.percentile(ms, 95):.0f}",
                flush=True,
            )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"    peak RSS so far {rss:.0f} MB", flush=True)
        del m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=60)
    args = ap.parse_args()
    scale_table([int(s) for s in args.sizes.split(",")], None, args.queries)


if __name__ == "__main__":
    main()
