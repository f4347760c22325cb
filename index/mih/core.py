"""Exact, live, in-memory Hamming radius index for binary codes (PDQ 256-bit, pHash 64-bit).

The index is an exact multi-index hash (MIH) after Norouzi, Punjani and Fleet, "Fast exact
search in Hamming space with multi-index hashing", IEEE TPAMI 36(6), 2014, with a two-level
pigeonhole that makes the candidate filter cheap.

Layout
------
A code of ``nbits`` bits is cut into ``m = nbits / 16`` *halves* of 16 bits; halves ``2k`` and
``2k + 1`` form *chunk* ``k`` (32 bits, ``nbits / 32`` chunks). Table ``t`` is keyed by half
``t`` and is one packed uint8 buffer (see :func:`_layout`): direct-addressed bucket offsets
(65 537 int64) over three columns holding one entry per indexed code, grouped by bucket:

* ``sib`` (uint16): the *sibling* half ``t ^ 1`` -- with the bucket key this is the whole 32-bit
  chunk, so the chunk distance is known without touching the code;
* ``slo`` / ``shi`` (uint16 / 1 byte, 2 bytes past 2**24 slots): the internal slot.

Codes live once in a slot-ordered array (``codes``), next to ``ids`` (int64), ``dead``
(tombstones) and ``id_order`` (uint32 slots sorted by id, binary-searched by ``remove``).
At 10M PDQ codes that is 16 * 5 B + 32 + 8 + 1 + 4 = 125 B a code, 1.26 GB.

Why this layout (measured on the 2-core target machine, radius 31, random codes): the cost of
an MIH query is its random memory accesses, not its arithmetic. 16 x 16-bit tables need only
272 bucket probes whose offsets (8 MB) stay in cache, and their buckets are contiguous runs
that are prefetched ahead of the scan; 11 tables of 23-24 bits (s = 2) would need ~3 200
random probes and 450 MB of offsets at any size, 8 x 32 bits (s = 3) ~44 000 probes. The
price of 16-bit keys is large buckets (~150 entries at 10M, 41 500 entries scanned a query),
which is cheap only because the scan reads 2 bytes an entry and the sibling check discards
99.7 % of them: without it every entry costs a random read of its code (~100 ns, ~4 ms a
query); storing extra code bits as a plain distance bound would need ~96 bits an entry to
filter as well. Result: ~55 000 lookups/s at 1M and ~11 700 at 10M on one core.

Search at radius ``r`` (exact, by pigeonhole, Norouzi et al. Sec. 3): with ``n_chunks`` chunks
some chunk is within ``c = r // n_chunks`` of the query, and inside that chunk one half is within
``s = c // 2``. So each table is probed at its ``V(16, s)`` keys within ``s`` of the query's half
(PDQ, r = 31: c = 3, s = 1, 17 probes, 272 in all) and each bucket entry is kept only if its
chunk distance (probe distance + sibling popcount) is ``<= c``. For random codes that keeps
~0.25 % of the scanned entries, so the full codes are touched ~100 times a query at 10M.
Candidates are deduplicated without a hash set: a code is accepted only from its *canonical*
table -- the first chunk within ``c`` and, in it, the first half within ``s`` -- checked from the
sibling (half 0 vs 1) and the full code (earlier chunks). For ``s > 3`` (r >= 64 on PDQ,
r >= 16 on 64-bit codes) the probe count makes MIH slower than a scan, and search falls back to
an exact linear scan; results stay exact at every radius.

Liveness
--------
``add`` appends codes to slots ``[n_built, n_total)``, the *pending* region, which search scans
by brute force (popcount), so they match as soon as ``add`` returns. ``compact`` merges pending
slots into the tables (per table, an O(n) bucket merge) and drops tombstoned entries; it starts
by itself, in a daemon thread, when pending exceeds ``pending_limit`` (default
``clamp(n_built / 1024, 2048, 16384)``: the scan costs ~2 ns a pending code a query, so a full
buffer adds ~30 us to a 10M query, while a merge at 10M costs ~0.5-1 s of the other core).
When more than a quarter of the slots are tombstones, ``compact`` *vacuums*: it renumbers the
live slots and rebuilds every table (transiently about twice the memory). The slot arrays grow
by 1.25x when full (an ``add`` that grows them copies them: ~60 ms at 10M codes).

Concurrency
-----------
Searches never lock: they read ``self._view``, an immutable snapshot of array references and
counters, and run nogil numba kernels, so searches run in parallel on several threads. Writers
(``add``, ``remove``, the publish steps of ``compact``, ``save``'s snapshot) serialise on a
short ``_write_lock`` and publish a new view. ``compact`` serialises on ``_compact_lock``,
does its O(n) work without the write lock, and publishes each rebuilt table on its own (old
tables stay valid: entries of slots ``>= n_built`` are ignored until the final publish), so
searches, adds and removes go on while it runs in a background thread. Tombstones are written
in place (``dead[slot] = True``): a search that starts after ``remove`` returns never sees
the entry.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from empreinte.index.mih.fileformat import (
    IndexFileError,
    _read_file,
    _sections,
    _view_from_arrays,
    _write_file,
)
from empreinte.index.mih.kernels import (
    _MAX_PROBE_RADIUS,
    _NPROBE,
    IntArray,
    _find_live,
    _keep_mask,
    _merge_order,
    _search_kernel,
)
from empreinte.index.mih.view import (
    _NO_KEEP,
    _build_table,
    _empty_view,
    _hi_bytes,
    _in_parallel,
    _np_parts,
    _Scratch,
    _set,
    _unique_sorted,
    _View,
    _widen_table,
)

# --------------------------------------------------------------------------- the index


class HammingIndex:
    """Exact Hamming radius index with live adds and removals (see the module docstring).

    Multi-index hashing after Norouzi, Punjani and Fleet (TPAMI 2014): 16-bit tables, paired
    into 32-bit chunks whose distance is checked from bucket-adjacent sibling bits.
    """

    def __init__(
        self, nbits: int, *, pending_limit: int | None = None, background: bool = True
    ) -> None:
        """``pending_limit``: adds searched by brute force before a compaction starts (default
        ``clamp(n_built / 1024, 2048, 16384)``); ``background``: run those compactions in a
        daemon thread (adds return at once) rather than inside ``add``."""
        if nbits <= 0 or nbits % 64:
            raise ValueError(f"nbits must be a positive multiple of 64, got {nbits}")
        if pending_limit is not None and pending_limit < 0:
            raise ValueError("pending_limit must be >= 0")
        self._nbits = nbits
        self._pending_limit = pending_limit
        self._background = background
        self._write_lock = threading.Lock()
        self._compact_lock = threading.Lock()
        self._live = 0
        self._removals = 0  # removals so far; tables hold none of the first _clean_at
        self._clean_at = 0
        self._view = _empty_view(nbits)

    # ------------------------------------------------------------------ properties

    @property
    def nbits(self) -> int:
        return self._nbits

    def __len__(self) -> int:
        return self._live

    @property
    def pending(self) -> int:
        """Slots added since the last compaction (searched by brute force)."""
        view = self._view
        return view.n_total - view.n_built

    def memory_bytes(self) -> int:
        """Bytes held by the index arrays (excluding capacity not yet written)."""
        v = self._view
        per_slot = v.codes.shape[1] + 8 + 1
        return int(v.n_total * per_slot + v.id_order.nbytes + sum(t.nbytes for t in v.tables))

    # ------------------------------------------------------------------ input checks

    def _as_codes(self, codes: np.ndarray[Any, Any]) -> NDArray[np.uint8]:
        arr = np.asarray(codes)
        nbytes = self._nbits // 8
        if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != nbytes:
            raise ValueError(f"codes must be uint8 [n, {nbytes}], got {arr.dtype} {arr.shape}")
        return np.ascontiguousarray(arr)

    @staticmethod
    def _as_ids(ids: np.ndarray[Any, Any]) -> IntArray:
        arr = np.asarray(ids)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"ids must be a 1-D integer array, got {arr.dtype} {arr.shape}")
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError("ids must fit in int64")
        return np.ascontiguousarray(arr, dtype=np.int64)

    # ------------------------------------------------------------------ writes

    def add(self, ids: np.ndarray[Any, Any], codes: np.ndarray[Any, Any]) -> None:
        """Add codes under caller-chosen unique ids; they match as soon as this returns.

        Raises ValueError if an id is repeated in the batch or already live in the index.
        Past the pending limit this starts a compaction (see ``__init__``); a batch larger
        than the limit is compacted before returning.
        """
        ids_a, codes_a = self._as_ids(ids), self._as_codes(codes)
        if ids_a.shape[0] != codes_a.shape[0]:
            raise ValueError("ids and codes differ in length")
        if ids_a.shape[0] == 0:
            return
        if _unique_sorted(ids_a).shape[0] != ids_a.shape[0]:
            raise ValueError("duplicate ids in the batch")
        with self._write_lock:
            view = self._view
            present = self._find(view, ids_a)
            if (present >= 0).any():
                raise ValueError(f"ids already in the index: {ids_a[present >= 0][:5].tolist()}")
            view = self._reserve(view, ids_a.shape[0])
            lo, hi = view.n_total, view.n_total + ids_a.shape[0]
            view.codes[lo:hi] = codes_a
            view.ids[lo:hi] = ids_a
            view.dead[lo:hi] = False
            self._view = replace(view, n_total=hi)
            self._live += ids_a.shape[0]
        self._maybe_compact(ids_a.shape[0])

    def remove(self, ids: np.ndarray[Any, Any]) -> int:
        """Tombstone the given ids; return how many were live. Effective on return.

        The codes stay in memory until a vacuum renumbers the slots (a background
        compaction may be reading them), but :meth:`save` never writes a dead slot's code.
        """
        ids_a = _unique_sorted(self._as_ids(ids))
        with self._write_lock:
            view = self._view
            slots = self._find(view, ids_a)
            slots = slots[slots >= 0]
            view.dead[slots] = True
            self._live -= slots.shape[0]
            self._removals += slots.shape[0]
        return int(slots.shape[0])

    @staticmethod
    def _find(view: _View, ids: IntArray) -> IntArray:
        return _find_live(view.ids, view.dead, view.id_order, view.n_built, view.n_total, ids)

    @staticmethod
    def _reserve(view: _View, extra: int) -> _View:
        """A view whose arrays have room for ``extra`` more slots (grown by 1.25x + 4096)."""
        need = view.n_total + extra
        cap = view.ids.shape[0]
        if need <= cap:
            return view
        _hi_bytes(need)
        new_cap = need if view.n_total == 0 else max(need, cap + cap // 4 + 4096)
        n = view.n_total
        codes = np.empty((new_cap, view.codes.shape[1]), np.uint8)
        ids = np.empty(new_cap, np.int64)
        dead = np.empty(new_cap, np.bool_)
        codes[:n], ids[:n], dead[:n] = view.codes[:n], view.ids[:n], view.dead[:n]
        return replace(view, codes=codes, ids=ids, dead=dead)

    # ------------------------------------------------------------------ search

    def search(
        self, code: np.ndarray[Any, Any], radius: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
        """Ids and distances of all live codes within ``radius`` (inclusive), by (distance, id)."""
        arr = np.asarray(code)
        if arr.ndim != 1:
            raise ValueError(f"code must be 1-D uint8 [{self._nbits // 8}], got shape {arr.shape}")
        ids, dists, _ = self._run(self._as_codes(arr[None, :]), radius)
        return ids, dists

    def search_batch(
        self, codes: np.ndarray[Any, Any], radius: int
    ) -> list[tuple[NDArray[np.int64], NDArray[np.int32]]]:
        """:meth:`search` for each row of ``codes`` (one kernel call, GIL released)."""
        ids, dists, bounds = self._run(self._as_codes(codes), radius)
        b = bounds.tolist()
        return [(ids[b[i] : b[i + 1]], dists[b[i] : b[i + 1]]) for i in range(len(b) - 1)]

    def _run(
        self, queries: NDArray[np.uint8], radius: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], IntArray]:
        """Kernel call. Radii whose half radius ``s`` exceeds 3 use an exact linear scan."""
        r = int(radius)
        if r < 0:
            raise ValueError("radius must be >= 0")
        r = min(r, self._nbits)
        view = self._view
        c = r // (self._nbits // 32)
        s = c // 2
        use_mih = int(s <= _MAX_PROBE_RADIUS)
        nprobe = _NPROBE[s] if use_mih else 0
        params = np.array([r, c, s, nprobe, view.n_built, use_mih, view.n_total, view.hb], np.int64)
        return _search_kernel(
            queries.view(np.uint16),
            queries.view(np.uint32),
            queries.view(np.uint64),
            params,
            view.tables,
            view.codes.view(np.uint32),
            view.codes.view(np.uint64),
            view.ids,
            view.dead,
        )

    # ------------------------------------------------------------------ compaction

    def _limit(self, view: _View) -> int:
        if self._pending_limit is not None:
            return self._pending_limit
        return int(min(16384, max(2048, view.n_built // 1024)))

    def _maybe_compact(self, batch: int) -> None:
        """Compact when pending exceeds the limit: in a daemon thread, or in the calling
        thread when ``background=False`` or the batch alone exceeds the limit (a bulk load)."""
        view = self._view
        limit = self._limit(view)
        if view.n_total - view.n_built <= limit:
            return
        if not self._compact_lock.acquire(blocking=False):
            return  # a compaction is running; it catches up with these adds
        if not self._background or batch > limit:
            self._compact_and_release()
            return
        try:
            worker = threading.Thread(target=self._compact_and_release, daemon=True)
            worker.start()
        except BaseException:
            self._compact_lock.release()
            raise

    def _compact_and_release(self) -> None:
        """Compact, again while adds made meanwhile exceed the limit, then release the lock."""
        try:
            for _ in range(4):
                self._compact_locked()
                view = self._view
                if view.n_total - view.n_built <= self._limit(view):
                    break
        finally:
            self._compact_lock.release()

    def compact(self) -> None:
        """Merge pending adds into the tables and drop tombstones (vacuum when > 1/4 dead).

        Safe to call from a background thread while searches, adds and removes continue:
        compactions are serialised on ``_compact_lock``; the O(n) work runs without the
        write lock, and finished tables are published atomically (see the module docstring).
        """
        with self._compact_lock:
            self._compact_locked()

    def _compact_locked(self) -> None:
        with self._write_lock:
            view = self._view
            removals = self._removals
            drop = removals != self._clean_at
            n_dead = view.n_total - self._live
        if n_dead > max(4096, view.n_total // 4):
            self._vacuum(view, removals)
        elif view.n_total > view.n_built or drop:
            self._merge(view, drop, removals)

    def _merge(self, snap: _View, drop: bool, removals: int) -> None:
        """Merge slots [n_built, n_total) of ``snap`` into each table, one table at a time."""
        n_built, n_target = snap.n_built, snap.n_total
        new_slots = np.arange(n_built, n_target, dtype=np.int64)
        new_slots = new_slots[~self._view.dead[n_built:n_target]]
        self._widen(_hi_bytes(n_target))
        threads = self._threads(n_built, new_slots.shape[0])
        scratch = _Scratch(new_slots.shape[0], threads)

        def one(t: int) -> None:
            cur = self._view
            keep = _NO_KEEP
            if drop:
                _, _, slo, shi = _np_parts(cur.tables[t], cur.hb)
                keep = _keep_mask(slo, shi, cur.dead, n_built)
            table = _build_table(cur, snap.codes, t, keep, new_slots, scratch.get())
            with self._write_lock:
                cur = self._view
                self._view = replace(cur, tables=_set(cur.tables, t, table))

        _in_parallel(one, len(snap.tables), threads)
        cur = self._view
        new_sorted = new_slots[np.argsort(cur.ids[new_slots], kind="stable")]
        order = _merge_order(cur.ids, cur.dead, cur.id_order, drop, new_sorted)
        with self._write_lock:
            self._view = replace(self._view, n_built=n_target, id_order=order)
            self._clean_at = removals

    @staticmethod
    def _threads(n_built: int, n_new: int) -> int:
        """Build on 2 threads for bulk loads (nothing built yet) and vacuums, else on 1 so a
        background compaction leaves a core to searches."""
        if n_built == 0 and n_new >= 1 << 20:
            return min(2, os.cpu_count() or 1)
        return 1

    def _widen(self, hb: int) -> None:
        """Give every table at least ``hb`` high slot bytes (atomically, for all tables)."""
        with self._write_lock:
            cur = self._view
            if cur.hb < hb:
                tables = tuple(_widen_table(buf) for buf in cur.tables)
                self._view = replace(cur, tables=tables, hb=hb)

    def _vacuum(self, snap: _View, removals: int) -> None:
        """Renumber live slots of ``snap`` densely, rebuild all tables, then publish."""
        n_target = snap.n_total
        live = np.flatnonzero(~self._view.dead[:n_target])
        n_live = live.shape[0]
        spare = self._view.n_total - n_target + 4096  # room for adds made meanwhile
        fresh = self._reserve(_empty_view(self._nbits), n_live + spare)
        fresh.codes[:n_live] = snap.codes[live]
        fresh.ids[:n_live] = snap.ids[live]
        fresh.dead[:n_live] = False
        fresh = replace(fresh, n_total=n_live, hb=_hi_bytes(n_live))
        slots = np.arange(n_live, dtype=np.int64)
        threads = self._threads(0, n_live)
        scratch = _Scratch(n_live, threads)
        tables = list(fresh.tables)

        def one(t: int) -> None:
            tables[t] = _build_table(fresh, fresh.codes, t, _NO_KEEP, slots, scratch.get())

        _in_parallel(one, len(tables), threads)
        order = np.argsort(fresh.ids[:n_live], kind="stable").astype(np.uint32)
        with self._write_lock:
            fresh = self._append_pending(fresh, self._view, live, n_target)
            self._view = replace(fresh, n_built=n_live, id_order=order, tables=tuple(tables))
            self._clean_at = removals

    def _append_pending(self, fresh: _View, cur: _View, live: IntArray, n_target: int) -> _View:
        """Carry tombstones set since the snapshot and slots added since it into ``fresh``."""
        n_live = live.shape[0]
        fresh.dead[:n_live] = cur.dead[live]
        extra = cur.n_total - n_target
        fresh = self._reserve(fresh, extra)
        src, dst = slice(n_target, cur.n_total), slice(n_live, n_live + extra)
        fresh.codes[dst], fresh.ids[dst] = cur.codes[src], cur.ids[src]
        fresh.dead[dst] = cur.dead[src]
        return replace(fresh, n_total=n_live + extra)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index (pending slots and tombstones included) atomically to ``path``.

        Layout (little-endian): magic ``EMPRMIH\\0``, uint32 version, uint32 header length,
        a JSON header (nbits, counters, and each section's name, dtype, shape and offset),
        then the raw arrays, each aligned to 64 bytes. No pickle.
        """
        with self._write_lock:
            view = self._view
            dead = view.dead[: view.n_total].copy()
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("wb") as f:
            _write_file(f, self._nbits, view, _sections(view, dead))
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HammingIndex:
        """Read a file written by :meth:`save`; raises :class:`IndexFileError` if unusable."""
        with Path(path).open("rb") as f:
            header, arrays = _read_file(f)
        if header["nbits"] <= 0 or header["nbits"] % 64:
            raise IndexFileError(f"bad nbits {header['nbits']}")
        index = cls(int(header["nbits"]))
        view, clean = _view_from_arrays(index._nbits, header, arrays)
        index._view = view
        index._live = int(np.count_nonzero(~view.dead[: view.n_total]))
        if not clean:  # tombstones or pending slots in tables: next compaction drops them
            index._clean_at = -1
        return index
