"""vPDQ parity: ``python -m benchmarks.video.parity``.

Hashes every sample video as vPDQ does (every frame; ``-128x128`` files on
frames downscaled to 128x128) through PyAV and Empreinte's PDQ, and compares
each frame with vPDQ's published line: frames compared, exact hashes, mean and
max Hamming distance, equal quality, equal timestamps.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import EVALDATA, stamp, table
from empreinte.hashing.video import vpdq
from empreinte.hashing.video.frames import hamming


def rows() -> list[list[str]]:
    """Return one table row per reference file that has its video."""
    root = EVALDATA / "video"
    out = []
    totals = [0, 0]
    for ref in sorted((root / "vpdq_hashes").glob("*.txt")):
        small = ref.stem.endswith("-128x128")
        video = root / "videos" / f"{ref.stem.removesuffix('-128x128')}.mp4"
        if not video.exists():
            continue
        want = vpdq.loads(ref.read_text())
        size = (128, 128) if small else None
        got = vpdq.vpdq_hash(video.read_bytes(), size=size, isolated=False)
        pairs = list(zip(want, got, strict=False))
        d = [hamming(a.pdq, b.pdq) for a, b in pairs]
        totals[0] += len(d)
        totals[1] += sum(x == 0 for x in d)
        out.append(
            [
                ref.stem,
                f"{len(want)} / {len(got)}",
                f"{sum(x == 0 for x in d)} ({sum(x == 0 for x in d) / len(d):.0%})",
                f"{np.mean(d):.2f}",
                str(max(d)),
                f"{np.mean([a.quality == b.quality for a, b in pairs]):.0%}",
                f"{np.mean([abs(a.seconds - b.seconds) < 0.0015 for a, b in pairs]):.0%}",
            ]
        )
    out.append(
        ["all", str(totals[0]), f"{totals[1]} ({totals[1] / totals[0]:.0%})", "", "", "", ""]
    )
    return out


def main() -> None:
    print(f"# vPDQ parity, {stamp()}\n")
    headers = [
        "reference",
        "frames (vPDQ / ours)",
        "exact",
        "mean d",
        "max d",
        "same quality",
        "same seconds",
    ]
    print(table(headers, rows()))


if __name__ == "__main__":
    main()
