"""Hamming distance of binary descriptors, pure numba: a one-instruction popcount and a
brute-force 2-nearest-neighbour search.

This is the one popcount of the project: ``empreinte.index.kernels`` re-exports it for
the index kernels (``hashing`` is the lowest room that needs it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(fn: _F) -> _F:
    """``numba.njit(cache=True, nogil=True)`` with the function's own type for mypy."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


def _ctpop_impl(typingctx: Any, x: Any) -> Any:
    """Numba intrinsic: ``llvm.ctpop.i64`` (one POPCNT instruction) of a uint64."""
    sig = types.int64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, [args[0]])

    return sig, codegen


popcnt = cast(Callable[[Any], int], intrinsic(_ctpop_impl))


@jit
def _two_nearest(
    queries: NDArray[np.uint64], base: NDArray[np.uint64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n, words = queries.shape
    dist = np.full((n, 2), 1 << 30, np.int64)
    idx = np.full((n, 2), -1, np.int64)
    four = words == 4
    for i in range(n):
        d0, d1, i0, i1 = 1 << 30, 1 << 30, -1, -1
        q = queries[i]
        for j in range(base.shape[0]):
            b = base[j]
            if four:  # 256-bit ORB descriptors, unrolled
                d = (
                    popcnt(q[0] ^ b[0])
                    + popcnt(q[1] ^ b[1])
                    + popcnt(q[2] ^ b[2])
                    + popcnt(q[3] ^ b[3])
                )
            else:
                d = 0
                for w in range(words):
                    d += popcnt(q[w] ^ b[w])
            if d < d0:
                d1, i1 = d0, i0
                d0, i0 = d, j
            elif d < d1:
                d1, i1 = d, j
        dist[i, 0], dist[i, 1], idx[i, 0], idx[i, 1] = d0, d1, i0, i1
    return dist, idx


def two_nearest(
    queries: NDArray[np.uint8], base: NDArray[np.uint8]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For each query row, the two nearest rows of ``base`` by Hamming distance.

    Rows are uint8 bit strings of equal length, a multiple of 8 bytes. Returns
    (distances (n, 2), indices (n, 2)), nearest first, ties to the lower index;
    a missing neighbour (``base`` has fewer than two rows) has index -1.
    """
    nbytes = queries.shape[1]
    if nbytes % 8 or base.shape[1] != nbytes:
        raise ValueError("descriptors must be rows of the same multiple of 8 bytes")
    q = np.ascontiguousarray(queries, np.uint8).view(np.uint64).reshape(len(queries), -1)
    b = np.ascontiguousarray(base, np.uint8).view(np.uint64).reshape(len(base), -1)
    return _two_nearest(q, b)
