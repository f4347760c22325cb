"""Fingerprint size per minute: ``python -m benchmarks.video.size``.

Hashes the sample videos and a 2-minute slideshow and prints each record's
compact JSON size, per started minute (what the cap counts) and per minute.
"""

from __future__ import annotations

import json

from benchmarks.common import EVALDATA, stamp, table
from benchmarks.video.synth import encode, load_photo, slideshow
from empreinte.hashing.fingerprint_file import record_to_json
from empreinte.hashing.video.fingerprint import SIZE_CAP_PER_MINUTE, fingerprint_video, minutes


def main() -> None:
    print(f"# Video fingerprint size, {stamp()}\n")
    videos = [
        (p.stem, p.read_bytes()) for p in sorted((EVALDATA / "video" / "videos").glob("*.mp4"))
    ]
    photos = sorted((EVALDATA / "imagenet_sample").glob("*.JPEG"))[100:130]
    frames = slideshow([load_photo(p, (320, 240)) for p in photos], seed=1, seconds=4.0)
    videos.append(("slideshow, 30 photos, 2 min", encode(frames, 15)))
    rows = []
    for name, data in videos:
        record = fingerprint_video(data, isolated=False)
        size = len(json.dumps(record_to_json(record), separators=(",", ":")))
        duration = record.duration or 0.0
        rows.append(
            [
                name,
                f"{duration:.1f}",
                str(len(record.frames)),
                str(len(record.keyframes)),
                f"{size:,}",
                f"{size / minutes(duration):,.0f}",
                f"{size / (duration / 60):,.0f}",
            ]
        )
    headers = [
        "video",
        "s",
        "frame runs",
        "keyframes",
        "record bytes",
        "bytes / started min",
        "bytes / min",
    ]
    print(table(headers, rows))
    print(f"\ncap: {SIZE_CAP_PER_MINUTE:,} bytes a started minute")


if __name__ == "__main__":
    main()
