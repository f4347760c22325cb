"""PDQ for the robust matcher, through the project's implementation when it exists.

``empreinte.hashing.pdq`` is the project's PDQ; until it is importable the
reference binding ``pdqhash`` is used. Both give the 32-byte hash in the
ThreatExchange hex order (first bit is the most significant bit of byte 0).
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - depends on which module exists
    from empreinte.hashing.pdq import pdq_dihedral_from_rgb as _dihedral
    from empreinte.hashing.pdq import pdq_from_rgb as _single
except ImportError:  # pragma: no cover
    import pdqhash

    def _single(rgb: np.ndarray) -> tuple[bytes, int]:
        bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
        return np.packbits(np.asarray(bits, np.uint8)).tobytes(), int(quality)

    def _dihedral(rgb: np.ndarray) -> tuple[list[bytes], int]:
        hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
        return [np.packbits(np.asarray(h, np.uint8)).tobytes() for h in hashes], int(quality)


def pdq(rgb: np.ndarray) -> tuple[bytes, int]:
    """Return the 32-byte PDQ hash and quality (0-100) of an HxWx3 uint8 image."""
    raw, quality = _single(rgb)
    return bytes(raw), int(quality)


def pdq_dihedral(rgb: np.ndarray) -> tuple[list[bytes], int]:
    """Return the 8 dihedral PDQ hashes (identity first) and the quality."""
    hashes, quality = _dihedral(rgb)
    return list(hashes), int(quality)
