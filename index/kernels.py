"""Numba helpers shared by the index kernels: a typed ``njit`` and a one-instruction popcount.

Both live in :mod:`empreinte.hashing.robust.hamming` (the lowest room that needs them).
"""

from __future__ import annotations

from empreinte.hashing.robust.hamming import jit, popcnt

__all__ = ["jit", "popcnt"]
