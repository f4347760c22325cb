"""Synthetic PDQ-like datasets: uniform or clustered codes, with planted near-duplicates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Dataset:
    name: str
    codes: NDArray[np.uint8]  # [n, nbytes]
    queries: NDArray[np.uint8]  # [nq, nbytes]: first half planted, second half random
    planted_distance: NDArray[np.int64]  # [nq]: planted distance, -1 for a random query


def flip_bits(codes: NDArray[np.uint8], rows: NDArray[np.int64], pos: NDArray[np.int64]) -> None:
    """XOR bit ``pos[i]`` into row ``rows[i]`` of ``codes`` in place (vectorised)."""
    flat = codes.reshape(-1)
    bits = np.left_shift(1, pos % 8).astype(np.uint8)
    np.bitwise_xor.at(flat, rows * codes.shape[1] + pos // 8, bits)


def uniform(n: int, nbytes: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    return rng.integers(0, 256, (n, nbytes), dtype=np.uint8)


def clustered(
    n: int, nbytes: int, rng: np.random.Generator, centres: int = 5000, max_flips: int = 40
) -> NDArray[np.uint8]:
    """Each code is a random centre with 0..max_flips random bit flips (repeats may cancel)."""
    cen = rng.integers(0, 256, (centres, nbytes), dtype=np.uint8)
    codes = cen[rng.integers(0, centres, n)]
    flips = rng.integers(0, max_flips + 1, n)
    for j in range(max_flips):
        rows = np.flatnonzero(flips > j)
        flip_bits(codes, rows, rng.integers(0, nbytes * 8, rows.shape[0]))
    return codes


def queries_for(
    codes: NDArray[np.uint8], nq: int, max_d: int, rng: np.random.Generator
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Half near-duplicates of random database rows at exact distances 0..max_d (cycling),
    half uniform random codes (no neighbour within ``max_d`` with overwhelming odds)."""
    nbits = codes.shape[1] * 8
    planted = nq // 2
    dist = np.arange(planted, dtype=np.int64) % (max_d + 1)
    out = codes[rng.integers(0, codes.shape[0], planted)].copy()
    for i in range(planted):
        pos = rng.choice(nbits, size=int(dist[i]), replace=False)
        for p in pos:
            out[i, p // 8] ^= np.uint8(1 << (p % 8))
    rand = rng.integers(0, 256, (nq - planted, codes.shape[1]), dtype=np.uint8)
    return np.concatenate([out, rand]), np.concatenate([dist, np.full(nq - planted, -1)])


def make(name: str, n: int, nq: int, max_d: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    codes = uniform(n, 32, rng) if name == "random" else clustered(n, 32, rng)
    queries, dist = queries_for(codes, nq, max_d, rng)
    return Dataset(name, codes, queries, dist)
