"""Measure fingerprinting speed end to end, side by side with the PDQ reference and imagehash.

Paths, each timed per image on one core, best of three passes over the set:

* reference: Pillow decode + ``convert("RGB")`` + ``pdqhash.compute`` (the C++ core);
* empreinte PDQ: ``decode`` (pinned pipeline) + ``pdq_from_rgb``;
* empreinte all signals: ``fingerprint_bytes`` (PDQ, pHash, dHash, wHash, SHA-256, MD5);
* imagehash pHash: Pillow decode + ``imagehash.phash``.

It also checks that both PDQ implementations agree bit for bit on the same pixels.

Run: ``python -m benchmarks.hashing.run [--limit N]``
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from benchmarks.common import EVALDATA, stamp, table
from empreinte.hashing.decode import decode
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.hashing.pdq import pdq_from_rgb


def reference_pdq(data: bytes) -> bytes:
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bits, _ = pdqhash.compute(rgb)
    return np.packbits(bits.astype(np.uint8)).tobytes()


def empreinte_pdq(data: bytes) -> bytes:
    return pdq_from_rgb(decode(data).rgb)[0]


def imagehash_phash(data: bytes) -> object:
    return imagehash.phash(Image.open(io.BytesIO(data)))


PATHS: dict[str, Callable[[bytes], object]] = {
    "reference PDQ (pdqhash on Pillow pixels)": reference_pdq,
    "empreinte PDQ (decode + PDQ)": empreinte_pdq,
    "empreinte all signals": fingerprint_bytes,
    "imagehash pHash": imagehash_phash,
}


def per_image(fn: Callable[[bytes], object], images: list[bytes], repeat: int) -> float:
    """Best-of-``repeat`` seconds per image over the whole set."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for data in images:
            fn(data)
        best = min(best, (time.perf_counter() - started) / len(images))
    return best


def hash_only(images: list[bytes], repeat: int) -> tuple[float, float, int]:
    """Seconds per image of the two PDQ cores on identical pixels, and how many agree."""
    pixels = [
        np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(d)).convert("RGB"))) for d in images
    ]
    ref = per_image(lambda rgb: pdqhash.compute(rgb), pixels, repeat)  # type: ignore[arg-type]
    ours = per_image(lambda rgb: pdq_from_rgb(rgb), pixels, repeat)  # type: ignore[arg-type]
    agree = 0
    for rgb in pixels:
        bits, _ = pdqhash.compute(rgb)
        agree += np.packbits(bits.astype(np.uint8)).tobytes() == pdq_from_rgb(rgb)[0]
    return ref, ours, agree


def load(paths: list[Path]) -> list[bytes]:
    return [p.read_bytes() for p in paths]


def datasets(limit: int) -> dict[str, list[bytes]]:
    small = sorted((EVALDATA / "imagenet_sample").glob("*.JPEG"))[:limit]
    large_dir = EVALDATA / "threatexchange_pdq" / "pdq" / "data" / "reg-test-input" / "exif-rotn"
    large = sorted(large_dir.glob("*.jpg"))
    return {
        f"imagenet_sample ({len(small)} photos, ~500x375)": load(small),
        f"phone photos ({len(large)} x 4032x3024, 12 MP)": load(large),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=1000, help="imagenet photos to use")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not EVALDATA.is_dir():
        raise SystemExit(f"evaluation data not found at {EVALDATA}")
    warm = next(iter(datasets(2).values()))
    for fn in PATHS.values():
        fn(warm[0])
    print(f"# Hashing benchmark, {stamp()}\n")
    print("End to end (decode and hash), one core, best of", args.repeat, "passes:\n")
    rows = []
    cores = []
    for name, images in datasets(args.limit).items():
        timings = {path: per_image(fn, images, args.repeat) for path, fn in PATHS.items()}
        ref = timings["reference PDQ (pdqhash on Pillow pixels)"]
        for path, seconds in timings.items():
            rows.append(
                [
                    name,
                    path,
                    f"{1 / seconds:,.1f}",
                    f"{seconds * 1000:,.1f}",
                    f"{ref / seconds:.2f}x",
                ]
            )
        ref_core, our_core, agree = hash_only(images, args.repeat)
        cores.append(
            [
                name,
                f"{ref_core * 1000:,.1f}",
                f"{our_core * 1000:,.1f}",
                f"{ref_core / our_core:.2f}x",
                f"{agree}/{len(images)}",
            ]
        )
    print(table(["images", "path", "images/s", "ms/image", "speed vs reference"], rows))
    print("\nPDQ core only, on identical Pillow pixels (decode excluded):\n")
    print(
        table(
            ["images", "reference ms", "empreinte ms", "speed-up", "bit-exact"],
            cores,
        )
    )


if __name__ == "__main__":
    main()
