"""Benchmark the exact Hamming radius index against faiss, as markdown tables.

    python -m benchmarks.index.run --sizes 1000000 10000000 --queries 2000
    python benchmarks/index/run.py --sizes 1000000 --datasets random --skip-baseline

For each size and dataset (uniform random PDQ codes; clustered: 5000 centres with 0-40 bit
flips), queries are half planted near-duplicates of database codes at distances 0..radius and
half random codes without neighbours. Ground truth is faiss ``IndexBinaryFlat`` range search.
Reported: recall and exactness vs that truth, lookups/s on 1 thread (wall and thread CPU time,
batched and one ``search`` call a query) and on 2 threads, RSS delta, build, save and load
times, add-to-matchable latency, and faiss ``IndexBinaryFlat`` / ``IndexBinaryMultiHash(256,
16, 16)`` (nflip 1) side by side. The index is multi-index hashing after Norouzi, Punjani and
Fleet, "Fast exact search in Hamming space with multi-index hashing", TPAMI 2014.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

if not __package__:  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.index import baselines, data
from benchmarks.index.measure import (
    best_rate,
    load_average,
    rss_bytes,
    threaded_rate,
    timed,
)
from empreinte.index.mih import HammingIndex

Results = baselines.Results


@dataclass
class Row:
    """One engine on one dataset."""

    size: int
    dataset: str
    engine: str
    recall: float = float("nan")
    exact: str = ""
    qps1: float = float("nan")  # 1 thread, batched, wall
    qps1_cpu: float = float("nan")  # 1 thread, batched, thread CPU time
    qps1_single: float = float("nan")  # 1 thread, one search() call a query, wall
    qps2: float = float("nan")  # 2 threads, wall
    qps2_cpu: float = float("nan")  # 2 threads, sum of per-thread items / thread CPU time
    rss: float = float("nan")  # bytes
    build: float = float("nan")  # seconds
    extra: dict[str, str] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--datasets", nargs="+", default=["random", "clustered"])
    p.add_argument("--radius", type=int, default=31)
    p.add_argument("--repeats", type=int, default=3, help="best of N timing runs")
    p.add_argument("--baseline-queries", type=int, default=200, help="queries timed on faiss")
    p.add_argument("--skip-baseline", action="store_true", help="no faiss timing rows")
    p.add_argument("--skip-multihash", action="store_true", help="no IndexBinaryMultiHash row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- correctness


def compare(got: Results, truth: Results) -> tuple[float, str]:
    """Recall of ``got`` against ``truth`` and how many queries match exactly (ids, distances,
    order)."""
    hits = total = exact = 0
    for (gi, gd), (ti, td) in zip(got, truth, strict=True):
        total += len(ti)
        mine = set(zip(gi.tolist(), gd.tolist(), strict=True))
        hits += len(mine & set(zip(ti.tolist(), td.tolist(), strict=True)))
        exact += int(np.array_equal(gi, ti) and np.array_equal(gd, td))
    return (hits / total if total else 1.0), f"{exact}/{len(truth)}"


# --------------------------------------------------------------------------- engines


def bench_flat(ds: data.Dataset, args: argparse.Namespace, size: int) -> tuple[Row, Results]:
    """faiss IndexBinaryFlat: ground truth on 2 threads, then the timed baseline."""
    row = Row(size, ds.name, "faiss IndexBinaryFlat")
    before = rss_bytes()
    index, row.build = timed(lambda: _faiss_built(baselines.flat(256), ds.codes))
    row.rss = rss_bytes() - before
    truth, seconds = timed(lambda: baselines.range_search(index, ds.queries, args.radius, 2))
    row.extra["truth s"] = f"{seconds:.1f}"
    if not args.skip_baseline:
        _faiss_rates(row, index, ds, args, truth)
    return row, truth


def bench_multihash(ds: data.Dataset, args: argparse.Namespace, size: int, truth: Results) -> Row:
    row = Row(size, ds.name, "faiss IndexBinaryMultiHash(256,16,16) nflip 1")
    before = rss_bytes()
    index, row.build = timed(lambda: _faiss_built(baselines.multihash(256, 1), ds.codes))
    row.rss = rss_bytes() - before
    _faiss_rates(row, index, ds, args, truth)
    return row


def _faiss_built(index: Any, codes: NDArray[np.uint8]) -> Any:
    index.add(codes)
    return index


def _faiss_rates(
    row: Row, index: Any, ds: data.Dataset, args: argparse.Namespace, truth: Results
) -> None:
    """Rates on the first ``--baseline-queries`` queries (faiss is slow at 10M)."""
    nq = min(args.baseline_queries, ds.queries.shape[0])
    sub, r = ds.queries[:nq], args.radius
    reps = max(1, args.repeats - 1)
    row.qps1, row.qps1_cpu = best_rate(lambda: baselines.range_search(index, sub, r, 1), nq, reps)
    row.qps2 = best_rate(lambda: baselines.range_search(index, sub, r, 2), nq, reps)[0]
    row.recall, row.exact = compare(baselines.range_search(index, sub, r, 2), truth[:nq])
    row.extra["timed queries"] = str(nq)


def bench_ours(ds: data.Dataset, args: argparse.Namespace, size: int, truth: Results) -> Row:
    row = Row(size, ds.name, "empreinte HammingIndex (MIH 16x16, chunk filter)")
    ids = np.arange(ds.codes.shape[0], dtype=np.int64)
    before = rss_bytes()
    index, row.build = timed(lambda: _ours_built(ids, ds.codes))
    row.rss = rss_bytes() - before
    row.extra["arrays MB"] = f"{index.memory_bytes() / 1e6:.0f}"
    _ours_rates(row, index, ds, args, truth)
    probe = ds.queries[:50]
    expect = index.search_batch(probe, args.radius)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.mih"
        start = time.perf_counter()
        index.save(path)
        row.extra["save s"] = f"{time.perf_counter() - start:.2f}"
        row.extra["file MB"] = f"{path.stat().st_size / 1e6:.0f}"
        del index  # measure the loaded index alone
        loaded = _ours_load(row, path)
    got = loaded.search_batch(probe, args.radius)
    row.extra["load identical"] = str(compare(got, expect)[1] == f"{len(probe)}/{len(probe)}")
    _ours_liveness(row, loaded, args.seed)
    return row


def _ours_built(ids: NDArray[np.int64], codes: NDArray[np.uint8]) -> HammingIndex:
    index = HammingIndex(256)
    index.add(ids, codes)
    index.compact()
    return index


def _ours_rates(
    row: Row, index: HammingIndex, ds: data.Dataset, args: argparse.Namespace, truth: Results
) -> None:
    q, r, reps = ds.queries, args.radius, args.repeats
    got = index.search_batch(q, r)
    row.recall, row.exact = compare(got, truth)
    row.qps1, row.qps1_cpu = best_rate(lambda: index.search_batch(q, r), len(q), reps)
    row.qps1_single = best_rate(lambda: [index.search(x, r) for x in q], len(q), 1)[0]
    halves = (np.ascontiguousarray(q[0::2]), np.ascontiguousarray(q[1::2]))
    jobs = [functools.partial(index.search_batch, h, r) for h in halves]
    row.qps2, row.qps2_cpu = threaded_rate(jobs, [len(h) for h in halves], reps)


def _ours_load(row: Row, path: Path) -> HammingIndex:
    base = rss_bytes()
    loaded, seconds = timed(lambda: HammingIndex.load(path))
    row.extra["load s"] = f"{seconds:.2f}"
    row.extra["loaded RSS MB"] = f"{(rss_bytes() - base) / 1e6:.0f}"
    return loaded


def _ours_liveness(row: Row, index: HammingIndex, seed: int) -> None:
    """Latency of single adds until matchable, of the compaction after them, and of merging
    a 64k batch (the default pending limit at >= 8M codes)."""
    rng = np.random.default_rng(seed + 99)
    base = int(1e12)
    lat = []
    for i in range(300):
        code = rng.integers(0, 256, (1, 32), dtype=np.uint8)
        start = time.perf_counter()
        index.add(np.array([base + i]), code)
        lat.append(time.perf_counter() - start)
        assert index.search(code[0], 0)[0].tolist()[-1:] == [base + i]
    us = np.array(lat) * 1e6
    row.extra["add→matchable p50/p99/max µs"] = (
        f"{np.percentile(us, 50):.0f}/{np.percentile(us, 99):.0f}/{us.max():.0f}"
    )
    row.extra["compact 300 s"] = f"{timed(index.compact)[1]:.2f}"
    batch = rng.integers(0, 256, (65536, 32), dtype=np.uint8)
    start = time.perf_counter()
    index.add(np.arange(65536) + 2 * base, batch)  # may compact by itself (pending limit)
    index.compact()
    row.extra["add 64k + compact s"] = f"{time.perf_counter() - start:.2f}"


# --------------------------------------------------------------------------- report


def fmt(x: float, digits: int = 0) -> str:
    return "—" if x != x else f"{x:,.{digits}f}"


def main_table(rows: list[Row]) -> str:
    head = (
        "| n | data | engine | recall | exact queries | q/s 1T batch (wall) | q/s 1T batch (CPU) "
        "| q/s 1T single call | q/s 2T (wall) | q/s 2T (CPU) | RSS MB | RSS MB / 1M codes "
        "| build s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r.size:,} | {r.dataset} | {r.engine} | {fmt(r.recall, 4)} | {r.exact} "
        f"| {fmt(r.qps1)} | {fmt(r.qps1_cpu)} | {fmt(r.qps1_single)} | {fmt(r.qps2)} "
        f"| {fmt(r.qps2_cpu)} "
        f"| {fmt(r.rss / 1e6)} | {fmt(r.rss / 1e6 / (r.size / 1e6), 1)} | {fmt(r.build, 2)} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def extra_table(rows: list[Row]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r.extra if k not in keys]
    head = "| n | data | engine | " + " | ".join(keys) + " |\n"
    head += "|---" * (3 + len(keys)) + "|\n"
    lines = [
        f"| {r.size:,} | {r.dataset} | {r.engine} | "
        + " | ".join(r.extra.get(k, "") for k in keys)
        + " |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def ratio_table(rows: list[Row]) -> str:
    head = (
        "| n | data | ours vs | q/s 1T (wall) | q/s 1T (CPU) | q/s 2T (wall) | RSS | build |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for ours in (r for r in rows if r.engine.startswith("empreinte")):
        for other in rows:
            if other is ours or (other.size, other.dataset) != (ours.size, ours.dataset):
                continue
            if other.qps1 != other.qps1:
                continue
            lines.append(
                f"| {ours.size:,} | {ours.dataset} | {other.engine} "
                f"| {fmt(ours.qps1 / other.qps1, 1)}x | {fmt(ours.qps1_cpu / other.qps1_cpu, 1)}x "
                f"| {fmt(ours.qps2 / other.qps2, 1)}x | {fmt(ours.rss / other.rss, 2)}x "
                f"| {fmt(ours.build / other.build, 2)}x |"
            )
    return head + "\n".join(lines) + "\n"


def report(rows: list[Row], args: argparse.Namespace) -> str:
    return (
        f"radius {args.radius} (inclusive), {args.queries} queries (half planted at "
        f"d=0..{args.radius}, half random), faiss timed on {args.baseline_queries}; "
        f"load average at end {load_average()} on {os.cpu_count()} cores. "
        "(wall) = queries / elapsed time; (CPU) = queries / the searching threads' CPU time, "
        "which discounts time lost to other processes on a shared machine (summed over "
        "threads for 2T). faiss runs its own OpenMP threads, so it has no CPU column.\n\n"
        + main_table(rows)
        + "\n"
        + extra_table(rows)
        + "\n"
        + ratio_table(rows)
    )


def warm_up() -> None:
    """Compile (or load cached) numba kernels outside the timings."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = HammingIndex(256)
    index.add(np.arange(5000), codes)
    index.compact()
    index.search_batch(codes[:4], 31)
    index.search(codes[0], 31)
    index.remove(np.arange(10))
    index.add(np.arange(10), codes[:10])
    index.compact()


def run_one(size: int, name: str, args: argparse.Namespace) -> list[Row]:
    ds, seconds = timed(lambda: data.make(name, size, args.queries, args.radius, args.seed))
    print(f"# n={size:,} {name}: data {seconds:.1f}s", file=sys.stderr, flush=True)
    flat_row, truth = bench_flat(ds, args, size)
    rows = [bench_ours(ds, args, size, truth), flat_row]
    print(f"#   ours done: {rows[0]}", file=sys.stderr, flush=True)
    if not (args.skip_baseline or args.skip_multihash):
        rows.append(bench_multihash(ds, args, size, truth))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warm_up()
    rows: list[Row] = []
    for size in args.sizes:
        for name in args.datasets:
            rows += run_one(size, name, args)
            print(main_table(rows[-3:]), file=sys.stderr, flush=True)
    text = report(rows, args)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
