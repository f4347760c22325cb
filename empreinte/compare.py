"""Compare two pictures signal by signal and give a plain verdict."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from empreinte.hashing.fingerprint import Fingerprint, fingerprint_bytes
from empreinte.hashing.signals import SignalType

PDQ_SAME: Final = 10
"""PDQ distance up to which two pictures are the same image (re-encoded, resized)."""
PDQ_NEAR: Final = 31
"""PDQ distance up to which two pictures are a near copy: the reference's match threshold."""


class Verdict(enum.StrEnum):
    SAME_FILE = "the same file (byte for byte)"
    SAME_IMAGE = "the same image (re-saved, resized or re-compressed)"
    NEAR_COPY = "a near copy (edited, filtered or partly changed)"
    DIFFERENT = "different images"


@dataclass(frozen=True, slots=True)
class Comparison:
    """Per-signal distances between two fingerprints, and the verdict."""

    distances: dict[SignalType, int]
    verdict: Verdict

    def lines(self) -> list[str]:
        rows = []
        for kind, dist in self.distances.items():
            if kind.perceptual:
                rows.append(f"{kind:<7} distance {dist:>3} of {kind.nbits} bits")
            else:
                rows.append(f"{kind:<7} {'equal' if dist == 0 else 'different'}")
        rows.append(f"Verdict: {self.verdict}")
        return rows


def compare(a: Fingerprint, b: Fingerprint) -> Comparison:
    """Compare two fingerprints on every signal they share."""
    distances: dict[SignalType, int] = {}
    for signal in a.signals:
        other = b.get(signal.type)
        if other is not None:
            distances[signal.type] = signal.value - other.value
    return Comparison(distances, _verdict(distances))


def compare_files(a: Path, b: Path) -> Comparison:
    """Fingerprint two files and compare them."""
    return compare(fingerprint_bytes(a.read_bytes()), fingerprint_bytes(b.read_bytes()))


def _verdict(distances: dict[SignalType, int]) -> Verdict:
    if distances.get(SignalType.SHA256) == 0:
        return Verdict.SAME_FILE
    pdq = distances.get(SignalType.PDQ)
    if pdq is None:
        return Verdict.DIFFERENT
    if pdq <= PDQ_SAME:
        return Verdict.SAME_IMAGE
    if pdq <= PDQ_NEAR:
        return Verdict.NEAR_COPY
    return Verdict.DIFFERENT
