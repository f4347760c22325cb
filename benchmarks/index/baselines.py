"""faiss baselines: IndexBinaryFlat (brute force) and IndexBinaryMultiHash (HMA's 16 x 16)."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

Results = list[tuple[NDArray[np.int64], NDArray[np.int32]]]


def flat(nbits: int) -> Any:
    return faiss.IndexBinaryFlat(nbits)


def multihash(nbits: int, nflip: int = 1) -> Any:
    """``IndexBinaryMultiHash(nbits, nbits // 16, 16)``: 16-bit tables probed within ``nflip``."""
    index = faiss.IndexBinaryMultiHash(nbits, nbits // 16, 16)
    index.nflip = nflip
    return index


def range_search(index: Any, queries: NDArray[np.uint8], radius: int, threads: int) -> Results:
    """faiss range search at Hamming ``radius`` inclusive (faiss keeps d < radius, so +1),
    results ordered like ours: by (distance, id)."""
    faiss.omp_set_num_threads(threads)
    lims, dist, ids = index.range_search(queries, radius + 1)
    out: Results = []
    for i in range(queries.shape[0]):
        d = dist[lims[i] : lims[i + 1]].astype(np.int32)
        n = ids[lims[i] : lims[i + 1]].astype(np.int64)
        order = np.lexsort((n, d))
        out.append((n[order], d[order]))
    return out
