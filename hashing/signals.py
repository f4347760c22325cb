"""Name the signals a fingerprint carries, and give each hash value a small typed form.

A *signal* is one kind of evidence about an image: a perceptual hash (PDQ,
pHash, dHash, wHash) that survives re-encoding, or a cryptographic digest
(SHA-256, MD5) that finds exact copies. A :class:`HashValue` is one value of
one signal: its ``str`` is the hex form, :meth:`HashValue.parse` is the exact
inverse, and ``a - b`` is the Hamming distance.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import numpy as np

from empreinte.errors import SignalError


class SignalType(enum.StrEnum):
    """The kinds of signal Empreinte computes; the value is the wire name."""

    PDQ = "pdq"
    PHASH = "phash"
    DHASH = "dhash"
    WHASH = "whash"
    SHA256 = "sha256"
    MD5 = "md5"

    @property
    def nbits(self) -> int:
        return _NBITS[self]

    @property
    def perceptual(self) -> bool:
        """True for hashes compared by Hamming distance, False for exact digests."""
        return self in _PERCEPTUAL

    @classmethod
    def parse(cls, name: str) -> SignalType:
        """Return the signal named ``name``; raise :class:`SignalError` if unknown."""
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise SignalError(f"unknown signal type {name!r} (known: {known})") from None


_NBITS: Final = {
    SignalType.PDQ: 256,
    SignalType.PHASH: 64,
    SignalType.DHASH: 64,
    SignalType.WHASH: 64,
    SignalType.SHA256: 256,
    SignalType.MD5: 128,
}
_PERCEPTUAL: Final = frozenset(
    {SignalType.PDQ, SignalType.PHASH, SignalType.DHASH, SignalType.WHASH}
)
_HEX: Final = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class HashValue:
    """One hash value of one signal, stored as raw bytes."""

    signal: SignalType
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) * 8 != self.signal.nbits:
            raise SignalError(
                f"{self.signal} value has {len(self.raw) * 8} bits, expected {self.signal.nbits}"
            )

    @classmethod
    def parse(cls, signal: SignalType | str, text: str) -> HashValue:
        """Parse the hex form; raise :class:`SignalError` with the reason on bad input."""
        kind = signal if isinstance(signal, SignalType) else SignalType.parse(signal)
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
    xor = np.bitwise_xor(a.bits, b.bits)
    return int(np.unpackbits(xor).sum())
