# ruff: noqa: E501
"""Scale table: memory per registered image and query time with 10k to 1M registered images.

Synthetic registered images hold the descriptors of 400 other photos (indices 600-999)
drawn at random, each with about 12 % of its bits flipped, and the keypoint layout of one
of those photos: the descriptor distribution (and so the balance of the multi-index
cells) stays realistic, while no synthetic image matches a query. The real registered
photos are added first, and transformed copies (crop 60 %, feed screenshot, chat
screenshot) are queried. Query time is ``RobustMatcher.query``: query
features, candidates, verification, on one core.

Usage::

    .venv/bin/python -m benchmarks.robustness.scale --sizes 10000,100000,1000000 [--queries 60]
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
from empreinte.hashing.robust.matcher import query_features
from empreinte.index.robust import RobustMatcher

EVAL = Path(__file__).resolve().parents[2].parent / "shared" / "evaldata"
QUERY_FAMILIES = ("crop_60", "feed_screenshot", "chat_screenshot")
BATCH = 5000


def synthetic(
    pool: np.ndarray,
    masks: np.ndarray,
    shapes: list[LocalFeatures],
    n: int,
    rng: np.random.Generator,
) -> list[LocalFeatures]:
    """n fake feature sets: descriptors drawn from ``pool``, each XORed with a random flip mask."""
    rows = pool[rng.integers(0, len(pool), (n, 256))]
    rows ^= masks[rng.integers(0, len(masks), (n, 256))]
    out = []
    for i, s in enumerate(rng.integers(0, len(shapes), n)):
        src = shapes[int(s)]
        k = len(src)
        out.append(
            LocalFeatures(rows[i, :k].copy(), src.points, src.width_q, src.height_q, src.grid_bits)
        )
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scale_table(sizes: list[int], state: object | None = None, n_queries: int = 60) -> None:
    del state
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
    files = sorted((EVAL / "imagenet_sample").glob("*.JPEG"))
    reg = [Image.open(p).convert("RGB") for p in files[:n_queries]]
    pool = [Image.open(p).convert("RGB") for p in files[500:600]]
    real = [extract(np.asarray(im)) for im in reg]
    base = [extract(np.asarray(Image.open(p).convert("RGB"))) for p in files[600:1000]]
    base_desc = np.concatenate([b.descriptors for b in base])
    rng = np.random.default_rng(0)
    masks = np.packbits(rng.random((1 << 16, 256)) < 0.12, axis=1)
    queries = []
    for i, im in enumerate(reg):
        fam = QUERY_FAMILIES[i % len(QUERY_FAMILIES)]
        q = np.asarray(FAMILIES[fam](im, np.random.default_rng(i), pool))
        queries.append((i, fam, q))
    sizes_px = np.array([q.shape[0] * q.shape[1] for _, _, q in queries]) / 1e6
    print(
        f"\nqueries: {len(queries)} ({', '.join(QUERY_FAMILIES)}), {sizes_px.mean():.2f} MP mean "
        f"({sizes_px.min():.2f}-{sizes_px.max():.2f}); one core"
    )
    print(
        "| registered | build s | RSS MB | index bytes/image | features bytes/image | recall | candidate recall | query ms mean / p50 / p95 | votes ms p50 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sorted(sizes):
        rss0 = rss_mb()
        m = RobustMatcher()
        t0 = time.perf_counter()
        for i, f in enumerate(real):
            m.add(str(i), f)
        done = len(real)
        while done < n:
            for f in synthetic(base_desc, masks, base, min(BATCH, n - done), rng):
                m.add(f"s{done}", f)
                done += 1
        m.descriptors.merge(m._alive)
        build = time.perf_counter() - t0
        index_per_image = m.descriptors.memory_bytes() / n
        feats_per_image = sum(len(f) * 34 + 8 for f in real) / len(real)
        m.query(queries[0][2])  # compile and warm
        hits = cand_hits = 0
        times, vote_times = [], []
        for i, _fam, q in queries:
            t1 = time.perf_counter()
            res = m.query(q)
            times.append(time.perf_counter() - t1)
            hits += any(r.key == str(i) for r in res)
            qf = query_features(q)
            t2 = time.perf_counter()
            cands = m._candidates(qf)
            vote_times.append(time.perf_counter() - t2)
            cand_hits += m._slot_of[str(i)] in cands
        ms = np.array(times) * 1000
        print(
            f"| {n:,} | {build:.0f} | {rss_mb() - rss0:,.0f} | {index_per_image:,.0f} | {feats_per_image:,.0f} | "
            f"{hits / len(queries):.3f} | {cand_hits / len(queries):.3f} | "
            f"{ms.mean():.0f} / {np.median(ms):.0f} / {np.percentile(ms, 95):.0f} | {1000 * np.median(vote_times):.1f} |",
            flush=True,
        )
        del m
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=60)
    args = ap.parse_args()
    scale_table([int(s) for s in args.sizes.split(",")], None, args.queries)


if __name__ == "__main__":
    main()
