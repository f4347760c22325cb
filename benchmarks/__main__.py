"""Run every benchmark in turn: ``python -m benchmarks`` (``./dev bench``)."""

from __future__ import annotations

import runpy
import sys

SUITES = [
    "benchmarks.hashing.run",
    "benchmarks.index.run",
    "benchmarks.api.run",
    "benchmarks.robustness.run",
    "benchmarks.crawler.run",
    "benchmarks.console.run",
    "benchmarks.video.parity",
    "benchmarks.video.run",
]


def main() -> None:
    chosen = sys.argv[1:] or SUITES
    for name in chosen:
        module = name if name.startswith("benchmarks.") else f"benchmarks.{name}.run"
        sys.argv = [module]
        print(f"\n===== {module} =====\n", flush=True)
        runpy.run_module(module, run_name="__main__")


if __name__ == "__main__":
    main()
