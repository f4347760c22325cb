"""Name the signals a fingerprint carries, and give each hash value a small typed form.

A *signal* is one kind of evidence about an image: a perceptual hash (PDQ,
pHash, dHash, wHash) that survives re-encoding, a cryptographic digest
(SHA-256, MD5) that finds exact copies, or local features (ORB) that find
crops, rotations and screenshots. A :class:`HashValue` is one value of
one signal: its ``str`` is the hex form, :meth:`HashValue.parse` is the exact
inverse, and ``a - b`` is the Hamming distance.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from empreinte.errors import SignalError


class SignalKind(enum.StrEnum):
    """How a signal's values are compared."""

    PERCEPTUAL = "perceptual"
    """Compared by Hamming distance: near copies are near."""
    EXACT = "exact"
    """A cryptographic digest: equal or not."""
    FEATURES = "features"
    """A set of local features, verified geometrically: the evidence is a count of inliers."""


class SignalType(enum.StrEnum):
    """The kinds of signal Empreinte computes; the value is the wire name.

    Everything Empreinte knows about a signal is in its :class:`SignalSpec`
    (:attr:`spec`), declared once in :data:`SPECS`; a test fails when a signal
    has no spec.
    """

    PDQ = "pdq"
    PHASH = "phash"
    DHASH = "dhash"
    WHASH = "whash"
    SHA256 = "sha256"
    MD5 = "md5"
    ORB = "orb"
    """Local features: capped ORB descriptors with coarse positions (``orb-v1``)."""

    @property
    def spec(self) -> SignalSpec:
        return SPECS[self]

    @property
    def nbits(self) -> int:
        return self.spec.nbits

    @property
    def perceptual(self) -> bool:
        """True for hashes compared by Hamming distance."""
        return self.spec.kind is SignalKind.PERCEPTUAL

    @property
    def hashed(self) -> bool:
        """True for signals whose value is one hash (perceptual or exact), not a feature set."""
        return self.spec.kind is not SignalKind.FEATURES

    @classmethod
    def parse(cls, name: str) -> SignalType:
        """Return the signal named ``name``; raise :class:`SignalError` if unknown."""
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise SignalError(f"unknown signal type {name!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """Everything that depends on the kind of signal, in one place.

    ``radius`` is the match threshold: bits for a perceptual hash, 0 for a
    digest, the fewest geometric inliers for local features. ``region_radius``
    is the stricter threshold for guesses at a photo's place inside a bigger
    image (region proposals). ``near_exact`` bounds what counts as the same
    picture (the negative list, auto-approval). ``auto_approve`` says whether a
    policy may send a notice for this signal without a reviewer.
    """

    kind: SignalKind
    nbits: int
    display: str
    radius: int
    region_radius: int
    near_exact: int
    auto_approve: bool

    def confidence(self, evidence: int) -> float:
        """Map a distance (or, for local features, an inlier count) to a score in [0, 1].

        Digests score 1. A perceptual hash scores 1 when identical, 0.5 at the
        threshold, and 0 at twice the threshold. Local features score 0.5 at the
        fewest inliers accepted, rising to about 0.95 at twice that, 0 below.
        """
        if self.kind is SignalKind.EXACT:
            return 1.0
        if self.kind is SignalKind.PERCEPTUAL:
            return round(max(0.0, 1.0 - evidence / (2 * self.radius)), 4)
        if evidence < self.radius:
            return 0.0
        return round(1.0 - 0.5 * math.exp(-(evidence - self.radius) / 6.0), 4)


_P, _E = SignalKind.PERCEPTUAL, SignalKind.EXACT
SPECS: Final[dict[SignalType, SignalSpec]] = {
    SignalType.PDQ: SignalSpec(_P, 256, "PDQ", 31, 24, 10, True),
    SignalType.PHASH: SignalSpec(_P, 64, "pHash", 6, 6, 2, False),
    SignalType.DHASH: SignalSpec(_P, 64, "dHash", 6, 6, 2, False),
    SignalType.WHASH: SignalSpec(_P, 64, "wHash", 6, 6, 2, False),
    SignalType.SHA256: SignalSpec(_E, 256, "SHA-256", 0, 0, 0, True),
    SignalType.MD5: SignalSpec(_E, 128, "MD5", 0, 0, 0, True),
    SignalType.ORB: SignalSpec(SignalKind.FEATURES, 0, "ORB", 14, 14, 0, False),
}
"""Perceptual radii: PDQ's 31 is the reference's threshold; the 64-bit hashes' 6 bits keep
their false-match rate comparable. ORB's 14 inliers was set at a measured margin
(``benchmarks/robustness``: at most 10 on unrelated queries)."""
_HEX: Final = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class HashValue:
    """One hash value of one signal, stored as raw bytes."""

    signal: SignalType
    raw: bytes

    def __post_init__(self) -> None:
        if not self.signal.hashed:
            raise SignalError(f"{self.signal} is a set of local features, not a hash value")
        if len(self.raw) * 8 != self.signal.nbits:
            raise SignalError(
                f"{self.signal} value has {len(self.raw) * 8} bits, expected {self.signal.nbits}"
            )

    @classmethod
    def parse(cls, signal: SignalType | str, text: str) -> HashValue:
        """Parse the hex form; raise :class:`SignalError` with the reason on bad input."""
        kind = signal if isinstance(signal, SignalType) else SignalType.parse(signal)
        if not kind.hashed:
            raise SignalError(f"{kind} is a set of local features, not a hash value")
        if not isinstance(text, str):
            raise SignalError(f"{kind} value must be a hex string, not {type(text).__name__}")
        value = text.strip().lower()
        expected = kind.nbits // 4
        if len(value) != expected:
            raise SignalError(f"{kind} value must be {expected} hex characters, got {len(value)}")
        if not set(value) <= _HEX:
            raise SignalError(f"{kind} value is not hexadecimal")
        return cls(kind, bytes.fromhex(value))

    def __str__(self) -> str:
        return self.raw.hex()

    def __sub__(self, other: HashValue) -> int:
        return distance(self, other)

    @property
    def bits(self) -> np.ndarray:
        """The value as a uint8 array of ``nbits // 8`` bytes, for indexes."""
        return np.frombuffer(self.raw, dtype=np.uint8)

    def entropy_problem(self) -> str | None:
        """Say why this value is too degenerate to register, or return None.

        All-zero, all-one and near-constant perceptual hashes come from blank or
        corrupt inputs (HMA crashed on an all-zero PDQ from a feed); they would
        match every other blank image.
        """
        if not self.signal.perceptual:
            return None
        ones = int(np.unpackbits(self.bits).sum())
        nbits = self.signal.nbits
        if ones == 0:
            return f"{self.signal} value is all zeros"
        if ones == nbits:
            return f"{self.signal} value is all ones"
        if min(ones, nbits - ones) < nbits // 8:
            return f"{self.signal} value has too little entropy ({ones} of {nbits} bits set)"
        return None


def distance(a: HashValue, b: HashValue) -> int:
    """Return the Hamming distance between two values of the same signal."""
    if a.signal is not b.signal:
        raise SignalError(f"cannot compare a {a.signal} value with a {b.signal} value")
    return hamming(a.raw, b.raw)


def hamming(a: bytes, b: bytes) -> int:
    """Return the number of differing bits of two equal-length byte strings."""
    if len(a) != len(b):
        raise SignalError(f"cannot compare {len(a)} bytes with {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()
