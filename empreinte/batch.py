"""Fingerprint many files on the victim's machine: walk, hash in parallel, summarise.

Nothing here leaves the machine. Photos and videos are told apart by their
bytes; videos are decoded in a separate, killable process (see
:mod:`empreinte.hashing.video`). One bad file never stops the batch: each file
ends as *hashed*, *low quality* (refused for registration) or *unreadable*,
with a reason a person can act on.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from empreinte.errors import ImageError, SignalError
from empreinte.hashing.decode import Limits
from empreinte.hashing.fingerprint import QUALITY_FLOOR, Fingerprint, fingerprint_bytes
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.fingerprint import fingerprint_video
from empreinte.hashing.video.sniff import is_video


class Outcome(enum.StrEnum):
    HASHED = "hashed"
    LOW_QUALITY = "low quality"
    UNREADABLE = "unreadable"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class FileResult:
    """What became of one path."""

    path: str
    outcome: Outcome
    record: Fingerprint | None = None
    reason: str = ""


@dataclass
class Summary:
    """The results of a batch, in the order the files were found."""

    results: list[FileResult] = field(default_factory=list)

    def of(self, outcome: Outcome) -> list[FileResult]:
        return [r for r in self.results if r.outcome is outcome]

    @property
    def records(self) -> list[Fingerprint]:
        return [r.record for r in self.of(Outcome.HASHED) if r.record is not None]


Found = tuple[str, FileResult | None]
"""A path found by :func:`walk`, with its result when it is already settled."""


def walk(paths: list[Path]) -> Iterator[Found]:
    """Yield ``(path, result)`` for every file under ``paths``, in a stable order.

    ``result`` is None for a file to hash, or the settled result of a path that
    cannot be hashed (unreadable, or skipped as a loop).

    Folders are followed through symlinks, but each real folder is visited once,
    so a symlink loop ends. Hidden files inside folders (``.DS_Store``…) are
    skipped; a file named on the command line is always taken.
    """
    seen: set[tuple[int, int]] = set()
    for path in paths:
        yield from _walk_one(path, seen, explicit=True)


def _walk_one(path: Path, seen: set[tuple[int, int]], *, explicit: bool) -> Iterator[Found]:
    name = str(path)
    try:
        info = path.stat()
    except OSError as exc:
        reason = "symlink loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        yield name, FileResult(name, Outcome.UNREADABLE, reason=f"cannot open: {reason}")
        return
    if stat.S_ISREG(info.st_mode):
        yield name, None
        return
    if not stat.S_ISDIR(info.st_mode):
        if explicit:
            yield name, FileResult(name, Outcome.UNREADABLE, reason="not a regular file")
        return
    key = (info.st_dev, info.st_ino)
    if key in seen:
        if path.is_symlink():
            reason = "symlink to a folder already visited (loop)"
            yield name, FileResult(name, Outcome.SKIPPED, reason=reason)
        return
    seen.add(key)
    try:
        children = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        reason = f"cannot read folder: {exc.strerror or exc}"
        yield name, FileResult(name, Outcome.UNREADABLE, reason=reason)
        return
    for child in children:
        if child.name.startswith("."):
            continue
        yield from _walk_one(Path(child.path), seen, explicit=False)


def hash_file(
    path: str, limits: Limits = Limits(), video_limits: VideoLimits = VideoLimits()
) -> FileResult:
    """Fingerprint one photo or video (told apart by its bytes); never raises for a bad file."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(64)
            video = is_video(head)
            cap = video_limits.max_bytes if video else limits.max_bytes
            data = head + handle.read(cap + 1 - len(head))
    except OSError as exc:
        return FileResult(path, Outcome.UNREADABLE, reason=f"cannot read: {exc.strerror or exc}")
    try:
        record = fingerprint_video(data, video_limits) if video else fingerprint_bytes(data, limits)
    except ImageError as exc:
        return FileResult(path, Outcome.UNREADABLE, reason=exc.reason)
    except SignalError as exc:
        return FileResult(path, Outcome.UNREADABLE, reason=str(exc))
    except MemoryError:
        return FileResult(path, Outcome.UNREADABLE, reason="not enough memory to decode")
    if record.quality < QUALITY_FLOOR:
        reason = f"PDQ quality {record.quality} < {QUALITY_FLOOR}: too little detail to match"
        return FileResult(path, Outcome.LOW_QUALITY, record=record, reason=reason)
    return FileResult(path, Outcome.HASHED, record=record)


def run(
    paths: list[Path],
    *,
    jobs: int = 1,
    limits: Limits = Limits(),
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Fingerprint every file under ``paths`` with ``jobs`` processes."""
    found = list(walk(paths))
    summary = Summary()
    todo = [p for p, settled in found if settled is None]
    results = {p: settled for p, settled in found if settled is not None}
    total = len(todo)
    if progress:
        progress(0, total)
    for done, result in enumerate(_map(todo, jobs, limits), start=1):
        results[result.path] = result
        if progress:
            progress(done, total)
    summary.results = [results[p] for p, _ in found]
    return summary


def _map(todo: list[str], jobs: int, limits: Limits) -> Iterator[FileResult]:
    if jobs <= 1 or len(todo) <= 1:
        for path in todo:
            yield hash_file(path, limits)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(hash_file, todo, [limits] * len(todo), chunksize=4)
