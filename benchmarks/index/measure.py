"""Process memory and timing helpers."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def rss_bytes() -> int:
    """Resident set size (VmRSS) after a GC and returning freed heap to the OS."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Result and wall seconds of ``fn()``."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def best_rate(fn: Callable[[], object], count: int, repeats: int) -> tuple[float, float]:
    """Best (wall, thread CPU) items per second of ``fn`` doing ``count`` items."""
    wall, cpu = 0.0, 0.0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        c1, w1 = time.thread_time(), time.perf_counter()
        wall = max(wall, count / max(w1 - w0, 1e-9))
        cpu = max(cpu, count / max(c1 - c0, 1e-9))
    return wall, cpu


def threaded_rate(
    fns: Sequence[Callable[[], object]], counts: Sequence[int], repeats: int
) -> tuple[float, float]:
    """Best items per second of running every ``fns[i]()`` (``counts[i]`` items) on its own
    thread at once: (wall, sum over threads of items / that thread's CPU time). The second
    shows how the work scales when other processes compete for the cores."""
    wall, cpu = 0.0, 0.0
    for _ in range(repeats):
        cpu_s = [0.0] * len(fns)
        threads = [
            threading.Thread(target=_cpu_timed, args=(fn, cpu_s, i)) for i, fn in enumerate(fns)
        ]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = max(wall, sum(counts) / max(time.perf_counter() - start, 1e-9))
        cpu = max(cpu, sum(c / max(s, 1e-9) for c, s in zip(counts, cpu_s, strict=True)))
    return wall, cpu


def _cpu_timed(fn: Callable[[], object], out: list[float], i: int) -> None:
    """Run ``fn`` and store its thread CPU seconds in ``out[i]``."""
    start = time.thread_time()
    fn()
    out[i] = time.thread_time() - start


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())
