"""Candidate images for a query's local features, without scanning every registered image.

Each registered image brings up to 256 binary ORB descriptors (256 bits). A query brings up
to 1,500. The question asked here is only "which registered images share many descriptors
with the query?"; the matcher then verifies the best few geometrically.

Small registries (fewer than ``train_size`` descriptors, about 64 images) are searched
exactly: every query descriptor finds its nearest registered descriptors by a FAISS scan
and votes for their images.

Past that, an **inverted multi-index** (Babenko and Lempitsky, "The inverted multi-index",
CVPR 2012) over a bag of binary words, with a Hamming-embedding check (Jegou, Douze and
Schmid, "Hamming embedding and weak geometric consistency", ECCV 2008):

* each 256-bit descriptor is cut into two 128-bit halves, each half is quantised to the
  nearest of ``centroids`` binary centroids, and the pair of centroid numbers is the
  descriptor's *cell* (65,536 cells for 256 centroids a half). The centroids are learnt by
  k-means from a sample of the registered descriptors when there are ``train_size`` of
  them, and again at 4x, 16x and 64x that number (every descriptor is re-filed), then
  stay fixed;
* a posting, grouped by cell, is the image's slot (4 bytes) and a 128-bit *signature*
  (the first 64 bits of each half, 16 bytes);
* a query descriptor visits its ``probes`` nearest cells (by the sum of the two halves'
  distances) and votes once for every image with a posting there whose signature is
  within ``radius`` bits, weighted by closeness and by the cell's rarity (idf). Cells
  holding more than 8x the mean are stop words (the corners every photo has) and skipped.

The cost is the postings read, about ``probes x postings / cells`` per query descriptor,
not the number of registered images.

Liveness: postings of new images go to a small *delta* (a second cell-grouped array,
rebuilt in O(delta) when a query follows an add) and are merged into the main array when
the delta outgrows an eighth of it (amortised O(1) per posting). Removed images keep their
postings until the next merge drops them; their votes are ignored by the caller.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import faiss
import numpy as np
from numpy.typing import NDArray

from empreinte.index.kernels import jit, popcnt

TRAIN_SIZE: Final = 16_384
RETRAIN_FACTOR: Final = 4
RETRAIN_UNTIL: Final = 1 << 20
"""The codebook is learnt again, from a sample of all descriptors so far, each time their
number reaches 4x that of the last training, until it passes this (about 4,000 images)."""
CENTROIDS: Final = 256
PROBES: Final = 6
NEIGHBOURS: Final = 8
VOTE_DISTANCE: Final = 64
"""Exact stage: a query descriptor votes for registered descriptors at most this far."""
SIGNATURE_RADIUS: Final = 24
"""Multi-index stage: a posting votes when its 128-bit signature is at most this far."""
STOP_FACTOR: Final = 8
"""Cells with more than this many times the mean postings per cell are stop words."""
_HALF_TOP: Final = 6
"""Centroids kept per half before pairing them into cells."""
_DELTA_MIN: Final = 1 << 16

Votes = NDArray[np.float32]


@jit
def _half_distances(q: NDArray[np.uint64], cb: NDArray[np.uint64], out: NDArray[np.int64]) -> None:
    for k in range(cb.shape[0]):
        out[k] = popcnt(q[0] ^ cb[k, 0]) + popcnt(q[1] ^ cb[k, 1])


@jit
def _assign(
    codes: NDArray[np.uint64], cb0: NDArray[np.uint64], cb1: NDArray[np.uint64]
) -> NDArray[np.int64]:
    """Cell of each (n, 4)-uint64 code: nearest centroid of each half."""
    k = cb0.shape[0]
    cells = np.empty(codes.shape[0], np.int64)
    d = np.empty(k, np.int64)
    for i in range(codes.shape[0]):
        _half_distances(codes[i, 0:2], cb0, d)
        a = np.argmin(d)
        _half_distances(codes[i, 2:4], cb1, d)
        b = np.argmin(d)
        cells[i] = a * k + b
    return cells


@jit
def _smallest(d: NDArray[np.int64], top: int) -> NDArray[np.int64]:
    """Indices of the ``top`` smallest values of ``d``, smallest first (ties by index).

    Selection by repeated minimum: ``top`` is small, and this leaves ``d`` as it was."""
    out = np.empty(top, np.int64)
    taken = np.zeros(len(d), np.bool_)
    for t in range(top):
        best, at = np.iinfo(np.int64).max, 0
        for k in range(len(d)):
            if not taken[k] and d[k] < best:
                best, at = d[k], k
        taken[at] = True
        out[t] = at
    return out


@jit
def _probe_cells(
    codes: NDArray[np.uint64],
    cb0: NDArray[np.uint64],
    cb1: NDArray[np.uint64],
    top: int,
    probes: int,
) -> NDArray[np.int64]:
    """The ``probes`` cells nearest each query code (sum of the half distances)."""
    k = cb0.shape[0]
    out = np.empty((codes.shape[0], probes), np.int64)
    d0 = np.empty(k, np.int64)
    d1 = np.empty(k, np.int64)
    pair_d = np.empty(top * top, np.int64)
    pair_c = np.empty(top * top, np.int64)
    for i in range(codes.shape[0]):
        _half_distances(codes[i, 0:2], cb0, d0)
        _half_distances(codes[i, 2:4], cb1, d1)
        a = _smallest(d0, top)
        b = _smallest(d1, top)
        n = 0
        for x in range(top):
            for y in range(top):
                pair_d[n] = d0[a[x]] + d1[b[y]]
                pair_c[n] = a[x] * k + b[y]
                n += 1
        order = np.argsort(pair_d, kind="mergesort")
        for p in range(probes):
            out[i, p] = pair_c[order[p]]
    return out


@jit
def _vote_range(
    qsig: NDArray[np.uint64],
    i: int,
    lo: int,
    hi: int,
    postings: NDArray[np.uint32],
    sigs: NDArray[np.uint64],
    radius: int,
    idf: float,
    votes: NDArray[np.float32],
    seen: NDArray[np.int32],
) -> None:
    for j in range(lo, hi):
        s = postings[j]
        if s >= len(votes) or seen[s] == i:  # an image added after the caller counted
            continue
        d = popcnt(sigs[j, 0] ^ qsig[0]) + popcnt(sigs[j, 1] ^ qsig[1])
        if d <= radius:
            seen[s] = i
            votes[s] += np.float32(idf * (radius + 1 - d) / (radius + 1))


@jit
def _vote(
    cells: NDArray[np.int64],
    qsigs: NDArray[np.uint64],
    offsets: NDArray[np.int64],
    postings: NDArray[np.uint32],
    sigs: NDArray[np.uint64],
    delta_offsets: NDArray[np.int64],
    delta_postings: NDArray[np.uint32],
    delta_sigs: NDArray[np.uint64],
    radius: int,
    stop: int,
    n_images: int,
    votes: NDArray[np.float32],
    seen: NDArray[np.int32],
) -> None:
    """One vote per (query code, image) whose signature is within ``radius`` in the query
    code's cells, weighted by closeness; nearer cells first. Cells holding more than
    ``stop`` postings are stop words (the corners every photo has) and are skipped."""
    for i in range(cells.shape[0]):
        for p in range(cells.shape[1]):
            c = cells[i, p]
            size = offsets[c + 1] - offsets[c] + delta_offsets[c + 1] - delta_offsets[c]
            if size > stop:
                continue
            idf = np.log(1.0 + n_images / (1.0 + size))
            _vote_range(
                qsigs[i], i, offsets[c], offsets[c + 1], postings, sigs, radius, idf, votes, seen
            )
            _vote_range(
                qsigs[i],
                i,
                delta_offsets[c],
                delta_offsets[c + 1],
                delta_postings,
                delta_sigs,
                radius,
                idf,
                votes,
                seen,
            )


@jit
def _group(
    cells: NDArray[np.int64], postings: NDArray[np.uint32], sigs: NDArray[np.uint64], ncells: int
) -> tuple[NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint64]]:
    """Counting sort of postings by cell: (offsets of ncells + 1, postings, signatures)."""
    offsets = np.zeros(ncells + 1, np.int64)
    for c in cells:
        offsets[c + 1] += 1
    for c in range(ncells):
        offsets[c + 1] += offsets[c]
    fill = offsets[:-1].copy()
    out = np.empty(len(postings), np.uint32)
    out_sigs = np.empty((len(postings), 2), np.uint64)
    for i in range(len(cells)):
        c = cells[i]
        out[fill[c]] = postings[i]
        out_sigs[fill[c]] = sigs[i]
        fill[c] += 1
    return offsets, out, out_sigs


@jit
def _merge(
    offsets: NDArray[np.int64],
    postings: NDArray[np.uint32],
    sigs: NDArray[np.uint64],
    delta_offsets: NDArray[np.int64],
    delta_postings: NDArray[np.uint32],
    delta_sigs: NDArray[np.uint64],
    alive: NDArray[np.bool_],
) -> tuple[NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint64]]:
    """Main and delta postings of live images, grouped by cell, in one array."""
    ncells = len(offsets) - 1
    new_offsets = np.zeros(ncells + 1, np.int64)
    total = len(postings) + len(delta_postings)
    out = np.empty(total, np.uint32)
    out_sigs = np.empty((total, 2), np.uint64)
    n = 0
    for c in range(ncells):
        for j in range(offsets[c], offsets[c + 1]):
            if alive[postings[j]]:
                out[n] = postings[j]
                out_sigs[n] = sigs[j]
                n += 1
        for j in range(delta_offsets[c], delta_offsets[c + 1]):
            if alive[delta_postings[j]]:
                out[n] = delta_postings[j]
                out_sigs[n] = delta_sigs[j]
                n += 1
        new_offsets[c + 1] = n
    return new_offsets, out[:n], out_sigs[:n]  # no copy: a merge must not need 3x the memory


def _as_u64(descriptors: NDArray[np.uint8]) -> NDArray[np.uint64]:
    return np.ascontiguousarray(descriptors).view(np.uint64).reshape(-1, 4)


def _signature(codes: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The 128 bits kept beside each posting: the first 64 of each half (ORB's first
    tests are its least correlated)."""
    return np.ascontiguousarray(codes[:, 0::2])


def _train_half(bits: NDArray[np.uint8], k: int, seed: int) -> NDArray[np.uint64]:
    """Binary k-means centroids of 128-bit halves (k-means on the bits, then rounded)."""
    x = np.unpackbits(bits, axis=1).astype(np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=15, seed=seed, verbose=False)
    km.train(x)
    assert km.centroids is not None
    centroids = np.packbits(km.centroids > 0.5, axis=1)
    return np.ascontiguousarray(centroids).view(np.uint64).reshape(k, 2).copy()


@dataclass(frozen=True, slots=True)
class _ExactView:
    flat: faiss.IndexBinaryFlat
    slots: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _MultiView:
    codebook: tuple[NDArray[np.uint64], NDArray[np.uint64]]
    main: tuple[NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint64]]
    delta: tuple[NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint64]]
    stop: int


class DescriptorIndex:
    """Registered descriptors by image slot; :meth:`votes` says which images a query resembles.

    Thread-safe: writers serialise on a lock; a query takes an immutable view of the
    arrays under that lock (building the delta's cell grouping if an add made it stale)
    and runs its kernel without it.
    """

    def __init__(
        self,
        *,
        centroids: int = CENTROIDS,
        probes: int = PROBES,
        train_size: int = TRAIN_SIZE,
        retrain_until: int = RETRAIN_UNTIL,
        seed: int = 0,
    ) -> None:
        self.centroids = centroids
        self.probes = probes
        self.train_size = train_size
        self.seed = seed
        self.retrain_until = retrain_until
        self._next_train = train_size
        self._keep = True
        """Keep every descriptor (for training and re-filing) until the last training."""
        self.radius = SIGNATURE_RADIUS
        self.stop_factor = STOP_FACTOR
        self._lock = threading.Lock()
        self._exact_desc: list[NDArray[np.uint8]] = []
        self._exact_slots: list[NDArray[np.int64]] = []
        self._codebook: tuple[NDArray[np.uint64], NDArray[np.uint64]] | None = None
        ncells = centroids * centroids
        self._main = (
            np.zeros(ncells + 1, np.int64),
            np.zeros(0, np.uint32),
            np.zeros((0, 2), np.uint64),
        )
        self._delta_cells: list[NDArray[np.int64]] = []
        self._delta_slots: list[NDArray[np.uint32]] = []
        self._delta_sigs: list[NDArray[np.uint64]] = []
        self._delta_count = 0
        self._view: _ExactView | _MultiView | None = None
        self.count = 0

    @property
    def trained(self) -> bool:
        """True once the multi-index is in use (the exact stage is over)."""
        return self._codebook is not None

    @property
    def min_votes(self) -> float:
        """Fewer votes than this never makes a candidate."""
        return 1.0 if self.trained else 1.5

    def add(self, slot: int, descriptors: NDArray[np.uint8], alive: NDArray[np.bool_]) -> None:
        """Add one image's descriptors under ``slot``; ``alive`` is indexed by slot."""
        if len(descriptors) == 0:
            return
        with self._lock:
            self.count += len(descriptors)
            self._view = None
            if self._keep:
                self._exact_desc.append(np.ascontiguousarray(descriptors, np.uint8))
                self._exact_slots.append(np.full(len(descriptors), slot, np.int64))
                if self.count >= self._next_train:
                    self._train(alive)
                    return
            if self._codebook is None:
                return
            codes = _as_u64(descriptors)
            cells = _assign(codes, *self._codebook)
            self._delta_cells.append(cells)
            self._delta_slots.append(np.full(len(cells), slot, np.uint32))
            self._delta_sigs.append(_signature(codes))
            self._delta_count += len(cells)
            if self._delta_count >= max(_DELTA_MIN, len(self._main[1]) // 8):
                self._merge(alive)

    def _train(self, alive: NDArray[np.bool_]) -> None:
        """Learn the codebook from a sample of every descriptor so far, and re-file them all."""
        desc = np.concatenate(self._exact_desc)
        slots = np.concatenate(self._exact_slots)
        self._exact_desc, self._exact_slots = [desc], [slots]
        rng = np.random.default_rng([self.seed, len(desc)])
        sample = desc[rng.permutation(len(desc))[: 64 * self.centroids]]
        self._codebook = (
            _train_half(sample[:, :16], self.centroids, self.seed),
            _train_half(sample[:, 16:], self.centroids, self.seed + 1),
        )
        self._next_train = RETRAIN_FACTOR * self.count
        if self._next_train > self.retrain_until:
            self._keep = False
            self._exact_desc, self._exact_slots = [], []
        ncells = self.centroids * self.centroids
        self._main = (
            np.zeros(ncells + 1, np.int64),
            np.zeros(0, np.uint32),
            np.zeros((0, 2), np.uint64),
        )
        codes = _as_u64(desc)
        self._delta_cells = [_assign(codes, *self._codebook)]
        self._delta_slots = [slots.astype(np.uint32)]
        self._delta_sigs = [_signature(codes)]
        self._delta_count = len(desc)
        self._merge(alive)

    def merge(self, alive: NDArray[np.bool_]) -> None:
        """Fold the delta into the main postings, dropping images no longer alive."""
        with self._lock:
            self._merge(alive)

    def _merge(self, alive: NDArray[np.bool_]) -> None:
        if self._codebook is None:
            return
        self._main = _merge(*self._main, *self._delta_csr(), alive)
        self._delta_cells, self._delta_slots, self._delta_sigs = [], [], []
        self._delta_count = 0
        self._view = None

    def _delta_csr(self) -> tuple[NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint64]]:
        if self._delta_cells:
            cells = np.concatenate(self._delta_cells)
            slots = np.concatenate(self._delta_slots)
            sigs = np.concatenate(self._delta_sigs)
        else:
            cells, slots = np.zeros(0, np.int64), np.zeros(0, np.uint32)
            sigs = np.zeros((0, 2), np.uint64)
        return _group(cells, slots, sigs, len(self._main[0]) - 1)

    def _current(self) -> _ExactView | _MultiView | None:
        with self._lock:
            if self._view is None and self.count:
                if self._codebook is None:
                    flat = faiss.IndexBinaryFlat(256)
                    flat.add(np.concatenate(self._exact_desc))
                    self._view = _ExactView(flat, np.concatenate(self._exact_slots))
                else:
                    ncells = len(self._main[0]) - 1
                    mean = (len(self._main[1]) + self._delta_count) / ncells
                    stop = max(64, int(self.stop_factor * mean))
                    self._view = _MultiView(self._codebook, self._main, self._delta_csr(), stop)
            return self._view

    def votes(self, queries: NDArray[np.uint8], n_slots: int) -> Votes:
        """Votes of the query descriptors for each image slot below ``n_slots`` (dead
        slots included: the caller knows which images are alive)."""
        votes = np.zeros(n_slots, np.float32)
        view = self._current()
        if view is None or len(queries) == 0:
            return votes
        if isinstance(view, _ExactView):
            _exact_votes(view, np.ascontiguousarray(queries, np.uint8), votes)
            return votes
        top = min(_HALF_TOP, self.centroids)
        codes = _as_u64(queries)
        cells = _probe_cells(codes, *view.codebook, top, min(self.probes, top * top))
        seen = np.full(n_slots, -1, np.int32)
        _vote(
            cells,
            _signature(codes),
            *view.main,
            *view.delta,
            self.radius,
            view.stop,
            n_slots,
            votes,
            seen,
        )
        return votes

    def save(self, folder: Path, alive: NDArray[np.bool_]) -> None:
        """Write the index to ``folder`` (merged first, so only live images' postings).

        Layout: ``meta.json`` (settings and counters), ``codebook.npy`` (2, k, 2) uint64,
        ``offsets.npy``, ``postings.npy``, ``signatures.npy`` (the cell-grouped postings) and,
        while the codebook may still be learnt again, ``kept.npy`` / ``kept_slots.npy``
        (every descriptor so far).
        """
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._merge(alive)
            meta = {
                "centroids": self.centroids,
                "probes": self.probes,
                "train_size": self.train_size,
                "retrain_until": self.retrain_until,
                "seed": self.seed,
                "next_train": self._next_train,
                "keep": self._keep,
                "count": self.count,
                "trained": self._codebook is not None,
            }
            if self._codebook is not None:
                np.save(folder / "codebook.npy", np.stack(self._codebook))
            for name, array in zip(("offsets", "postings", "signatures"), self._main, strict=True):
                np.save(folder / f"{name}.npy", cast(np.ndarray, array))
            if self._keep:
                kept = self._exact_desc or [np.zeros((0, 32), np.uint8)]
                slots = self._exact_slots or [np.zeros(0, np.int64)]
                np.save(folder / "kept.npy", np.concatenate(kept))
                np.save(folder / "kept_slots.npy", np.concatenate(slots))
        (folder / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> DescriptorIndex:
        """Read an index written by :meth:`save`; the postings are memory-mapped read-only
        (several processes share one copy; a merge writes new arrays in memory).

        Raises ``OSError``, ``ValueError`` or ``KeyError`` when the folder is damaged.
        """
        meta = json.loads((folder / "meta.json").read_text())
        index = cls(
            centroids=int(meta["centroids"]),
            probes=int(meta["probes"]),
            train_size=int(meta["train_size"]),
            retrain_until=int(meta["retrain_until"]),
            seed=int(meta["seed"]),
        )
        index._next_train = int(meta["next_train"])
        index._keep = bool(meta["keep"])
        index.count = int(meta["count"])
        if meta["trained"]:
            codebook = np.load(folder / "codebook.npy")
            if codebook.shape != (2, index.centroids, 2) or codebook.dtype != np.uint64:
                raise ValueError("descriptor index: codebook of the wrong shape")
            index._codebook = (np.ascontiguousarray(codebook[0]), np.ascontiguousarray(codebook[1]))
        main = tuple(
            np.load(folder / f"{name}.npy", mmap_mode="r")
            for name in ("offsets", "postings", "signatures")
        )
        offsets, postings, signatures = main
        ncells = index.centroids * index.centroids
        if (
            offsets.shape != (ncells + 1,)
            or postings.shape != (int(offsets[-1]),)
            or signatures.shape != (len(postings), 2)
        ):
            raise ValueError("descriptor index: postings do not match their offsets")
        index._main = (np.asarray(offsets), np.asarray(postings), np.asarray(signatures))
        if index._keep:
            kept = np.load(folder / "kept.npy")
            slots = np.load(folder / "kept_slots.npy")
            if kept.shape != (len(slots), 32):
                raise ValueError("descriptor index: kept descriptors do not match their slots")
            index._exact_desc, index._exact_slots = [kept], [slots]
        return index

    def memory_bytes(self) -> int:
        """Bytes held: postings, signatures and cell offsets, or the exact stage's descriptors."""
        if self._codebook is None:
            return self.count * (32 + 8)
        delta = self._delta_count * (8 + 4 + 16)
        return int(sum(a.nbytes for a in self._main) + delta)


def _exact_votes(view: _ExactView, queries: NDArray[np.uint8], votes: Votes) -> None:
    """Weighted votes of each query descriptor's nearest registered descriptors."""
    k = min(NEIGHBOURS, view.flat.ntotal)
    dist, rows = view.flat.search(queries, k)
    n = len(votes)
    slots = np.where(rows >= 0, view.slots[np.maximum(rows, 0)], n)
    ok = (dist <= VOTE_DISTANCE) & (slots < n)
    if not ok.any():
        return
    weight = (VOTE_DISTANCE + 1 - dist[ok]) / (VOTE_DISTANCE + 1)
    key = np.nonzero(ok)[0].astype(np.int64) * n + slots[ok]
    order = np.lexsort((-weight, key))  # best hit of each (query descriptor, image) first
    key, weight = key[order], weight[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    votes += np.bincount(key[first] % n, weights=weight[first], minlength=n).astype(np.float32)


def warm_up() -> None:
    """Compile the multi-index kernels now (numba caches them on disk after the first run)."""
    rng = np.random.default_rng(0)
    index = DescriptorIndex(train_size=640, centroids=16)  # >= 39 points a centroid: no warning
    alive = np.ones(4, np.bool_)
    for slot in range(4):
        index.add(slot, rng.integers(0, 256, (256, 32), dtype=np.uint8), alive)
    index.votes(rng.integers(0, 256, (8, 32), dtype=np.uint8), 4)
