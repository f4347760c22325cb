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

import io
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from empreinte.index.kernels import jit as _jit
from empreinte.index.kernels import popcnt as _popcnt

__all__ = ["HammingIndex", "IndexFileError"]

_HALF_BITS: Final = 16
_NBUCKETS: Final = 1 << _HALF_BITS
_MAX_PROBE_RADIUS: Final = 3  # V(16, 3) = 697 probes a table; past it a scan is cheaper
_MAGIC: Final = b"EMPRMIH\x00"
_VERSION: Final = 1
_ALIGN: Final = 64

IntArray = NDArray[np.int64]


class IndexFileError(ValueError):
    """A saved index file is truncated, foreign, of another version, or inconsistent."""


def _prefetch_impl(typingctx: Any, arr: Any, idx: Any) -> Any:
    """Numba intrinsic: ``llvm.prefetch`` (read, keep in all cache levels) of ``arr.flat[idx]``."""
    sig = types.void(arr, idx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.globals.get("llvm.prefetch.p0")
        if fn is None:
            fn = ir.Function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


_prefetch = cast(Callable[[Any, Any], None], intrinsic(_prefetch_impl))


def _probe_masks() -> tuple[IntArray, IntArray, list[int]]:
    """16-bit masks of popcount <= 3 ordered by popcount, their popcounts, and V(16, s)."""
    vals = np.arange(_NBUCKETS, dtype=np.int64)
    pops = np.array([v.bit_count() for v in range(_NBUCKETS)], dtype=np.int64)
    keep = pops <= _MAX_PROBE_RADIUS
    order = np.argsort(pops[keep], kind="stable")
    masks, mpop = vals[keep][order], pops[keep][order]
    nprobe = [int(np.count_nonzero(mpop <= s)) for s in range(_MAX_PROBE_RADIUS + 1)]
    return masks, mpop, nprobe


_MASKS, _MASK_POP, _NPROBE = _probe_masks()
_OFF_BYTES: Final = 8 * (_NBUCKETS + 1)  # int64 bucket offsets at the head of a packed table
_OFF_PAD: Final = -(-_OFF_BYTES // 64) * 64


# --------------------------------------------------------------------------- search kernels


@_jit
def _reserve(
    out_s: IntArray, out_d: NDArray[np.int32], need: int
) -> tuple[IntArray, NDArray[np.int32]]:
    """Result buffers with room for ``need`` entries (doubling). Growing outside the hot
    loops keeps numba from reference counting the buffers on every iteration."""
    if need <= out_s.shape[0]:
        return out_s, out_d
    size = max(need, 2 * out_s.shape[0])
    grown_s = np.empty(size, np.int64)
    grown_d = np.empty(size, np.int32)
    grown_s[: out_s.shape[0]] = out_s
    grown_d[: out_d.shape[0]] = out_d
    return grown_s, grown_d


@_jit
def _verify(q32: NDArray[np.uint32], row: NDArray[np.uint32], k: int, c: int, radius: int) -> int:
    """Full distance if within ``radius`` and chunk ``k`` is the first chunk within ``c``."""
    total = 0
    for w in range(q32.shape[0]):
        dw = _popcnt(np.uint64(row[w] ^ q32[w]))
        if w < k and dw <= c:
            return -1  # an earlier table (chunk w) owns this code
        total += dw
    return total if total <= radius else -1


@_jit
def _layout(n: int, hb: int) -> tuple[int, int, int, int]:
    """Byte offsets of sib, slo and shi, and the size, of a packed table of ``n`` entries.

    A table is one uint8 buffer: int64 offsets[65537] | uint16 sib[n] | uint16 slo[n] |
    shi[n] (``hb`` = 1 or 2 bytes each), sections aligned to 64 bytes. One buffer a table
    keeps numba's per-call argument unboxing short (16 arrays instead of 64).
    """
    a_sib = _OFF_PAD
    a_slo = a_sib + (2 * n + 63) // 64 * 64
    a_shi = a_slo + (2 * n + 63) // 64 * 64
    return a_sib, a_slo, a_shi, a_shi + hb * n


@_jit
def _parts(
    buf: NDArray[np.uint8], hb: int
) -> tuple[IntArray, NDArray[np.uint16], NDArray[np.uint16], NDArray[np.uint8]]:
    """Views (offsets, sib, slo, raw shi bytes) of a packed table."""
    off = buf[:_OFF_BYTES].view(np.int64)
    n = off[_NBUCKETS]
    a_sib, a_slo, a_shi, end = _layout(n, hb)
    sib = buf[a_sib : a_sib + 2 * n].view(np.uint16)
    slo = buf[a_slo : a_slo + 2 * n].view(np.uint16)
    return off, sib, slo, buf[a_shi:end]


@_jit
def _slot_at(slo: NDArray[np.uint16], shi: NDArray[np.uint8], hb: int, j: int) -> int:
    """Slot of entry ``j``: 16 low bits in ``slo``, ``hb`` high bytes in ``shi``."""
    high = np.int64(shi[j])
    if hb == 2:
        high = np.int64(shi[2 * j]) | (np.int64(shi[2 * j + 1]) << 8)
    return int(np.int64(slo[j]) | (high << 16))


@_jit
def _probe_ranges(
    q16: NDArray[np.uint16], offs: list[IntArray], nprobe: int, rng: IntArray
) -> None:
    """Bucket [lo, hi) of every probe of every table (independent loads overlap)."""
    for t in range(q16.shape[0]):
        off, qk = offs[t], np.int64(q16[t])
        for p in range(nprobe):
            key = qk ^ _MASKS[p]
            rng[2 * (t * nprobe + p)] = off[key]
            rng[2 * (t * nprobe + p) + 1] = off[key + 1]


_LOOKAHEAD: Final = 16  # buckets prefetched ahead of the scan


@_jit
def _prefetch_bucket(sibs: list[NDArray[np.uint16]], rng: IntArray, g: int, nprobe: int) -> None:
    """Prefetch both ends of the sibling run of probe ``g`` (table ``g // nprobe``)."""
    lo, hi = rng[2 * g], rng[2 * g + 1]
    if hi > lo:
        sib = sibs[g // nprobe]
        _prefetch(sib, lo)
        _prefetch(sib, hi - 1)


@_jit
def _scan_buckets(
    q16: NDArray[np.uint16],
    params: IntArray,
    sibs: list[NDArray[np.uint16]],
    rng: IntArray,
    cand: IntArray,
) -> tuple[IntArray, int]:
    """Entries whose chunk is within ``c`` and whose table is the canonical half, as t<<40|j.

    Buckets are prefetched ``_LOOKAHEAD`` probes ahead, so their misses overlap the scan.
    """
    c, s, nprobe = params[1], params[2], params[3]
    total = q16.shape[0] * nprobe
    for g in range(min(_LOOKAHEAD, total)):
        _prefetch_bucket(sibs, rng, g, nprobe)
    n = 0
    for g in range(total):
        if g + _LOOKAHEAD < total:
            _prefetch_bucket(sibs, rng, g + _LOOKAHEAD, nprobe)
        t = g // nprobe
        odd, qs, sib = (t & 1) == 1, np.uint64(q16[t ^ 1]), sibs[t]
        thr = c - _MASK_POP[g - t * nprobe]
        lo, hi = rng[2 * g], rng[2 * g + 1]
        if n + hi - lo > cand.shape[0]:
            cand, _ = _reserve(cand, np.empty(0, np.int32), n + hi - lo)
        for j in range(lo, hi):
            ds = _popcnt(np.uint64(sib[j]) ^ qs)
            if ds > thr or (odd and ds <= s):
                continue  # chunk too far, or half 2k owns it
            cand[n] = (t << 40) | j
            n += 1
    return cand, n


@_jit
def _candidate_slots(
    slos: list[NDArray[np.uint16]],
    shis: list[NDArray[np.uint8]],
    params: IntArray,
    codes32: NDArray[np.uint32],
    cand: IntArray,
    n: int,
) -> None:
    """Replace each candidate's entry index by its slot (t<<40 kept), prefetching its code."""
    n_built, hb = params[4], params[7]
    for i in range(n):
        t, j = cand[i] >> 40, cand[i] & ((1 << 40) - 1)
        slot = _slot_at(slos[t], shis[t], hb, j)
        if slot < n_built:
            _prefetch(codes32, slot * codes32.shape[1])
            cand[i] = (t << 40) | slot
        else:
            cand[i] = -1


@_jit
def _mih_query(
    q16: NDArray[np.uint16],
    q32: NDArray[np.uint32],
    params: IntArray,
    tables: tuple[
        list[IntArray], list[NDArray[np.uint16]], list[NDArray[np.uint16]], list[NDArray[np.uint8]]
    ],
    codes32: NDArray[np.uint32],
    dead: NDArray[np.bool_],
    scratch: tuple[IntArray, IntArray],
    out: tuple[IntArray, NDArray[np.int32], int],
) -> tuple[IntArray, tuple[IntArray, NDArray[np.int32], int]]:
    """Probe every table for one query; append each live indexed code within radius once.

    Phased so that the random loads of one phase overlap (memory-level parallelism): bucket
    ranges, sibling scan with prefetch, slot gather + code prefetch, then verification.
    """
    offs, sibs, slos, shis = tables
    rng, cand = scratch
    out_s, out_d, cnt = out
    radius, c, nprobe = params[0], params[1], params[3]
    _probe_ranges(q16, offs, nprobe, rng)
    cand, n = _scan_buckets(q16, params, sibs, rng, cand)
    _candidate_slots(slos, shis, params, codes32, cand, n)
    out_s, out_d = _reserve(out_s, out_d, cnt + n)
    for i in range(n):
        if cand[i] < 0:
            continue
        slot = cand[i] & ((1 << 40) - 1)
        d = _verify(q32, codes32[slot], cand[i] >> 41, c, radius)
        if d >= 0 and not dead[slot]:
            out_s[cnt], out_d[cnt] = slot, d
            cnt += 1
    return cand, (out_s, out_d, cnt)


@_jit
def _scan(
    q64: NDArray[np.uint64],
    codes64: NDArray[np.uint64],
    dead: NDArray[np.bool_],
    lo: int,
    hi: int,
    radius: int,
    out_s: IntArray,
    out_d: NDArray[np.int32],
    cnt: int,
) -> tuple[IntArray, NDArray[np.int32], int]:
    """Brute-force popcount scan of slots ``[lo, hi)``, in blocks of 4096 slots; the second
    half of a code is read only if its first half is within ``radius``."""
    half = (q64.shape[0] + 1) // 2
    for block in range(lo, hi, 4096):
        out_s, out_d = _reserve(out_s, out_d, cnt + 4096)
        for slot in range(block, min(block + 4096, hi)):
            d = 0
            for w in range(half):
                d += _popcnt(codes64[slot, w] ^ q64[w])
            if d > radius:
                continue
            for w in range(half, q64.shape[0]):
                d += _popcnt(codes64[slot, w] ^ q64[w])
            if d <= radius and not dead[slot]:
                out_s[cnt], out_d[cnt] = slot, d
                cnt += 1
    return out_s, out_d, cnt


@_jit
def _finish(out_s: IntArray, out_d: NDArray[np.int32], lo: int, hi: int, ids: IntArray) -> None:
    """Turn slots ``out_s[lo:hi]`` into ids, ordered by (distance, id)."""
    k = hi - lo
    if k == 0:
        return
    idv = np.empty(k, np.int64)
    for i in range(k):
        idv[i] = ids[out_s[lo + i]]
    dv = out_d[lo:hi].copy()
    order = np.argsort(idv)
    start = np.zeros(dv.max() + 2, np.int64)
    for i in range(k):
        start[dv[i] + 1] += 1
    for i in range(1, start.shape[0]):
        start[i] += start[i - 1]
    for i in order:  # stable counting sort by distance over id order
        pos = lo + start[dv[i]]
        start[dv[i]] += 1
        out_s[pos] = idv[i]
        out_d[pos] = dv[i]


@_jit
def _unpack_all(
    tables: tuple[NDArray[np.uint8], ...], hb: int
) -> tuple[
    list[IntArray], list[NDArray[np.uint16]], list[NDArray[np.uint16]], list[NDArray[np.uint8]]
]:
    """Column views of every packed table, once per kernel call."""
    parts = [_parts(buf, hb) for buf in tables]
    return (
        [p[0] for p in parts],
        [p[1] for p in parts],
        [p[2] for p in parts],
        [p[3] for p in parts],
    )


@_jit
def _search_kernel(
    q16s: NDArray[np.uint16],
    q32s: NDArray[np.uint32],
    q64s: NDArray[np.uint64],
    params: IntArray,
    tables: tuple[NDArray[np.uint8], ...],
    codes32: NDArray[np.uint32],
    codes64: NDArray[np.uint64],
    ids: IntArray,
    dead: NDArray[np.bool_],
) -> tuple[IntArray, NDArray[np.int32], IntArray]:
    """All queries: MIH over built slots (or a scan), scan of pending slots, sort, ids.

    ``params`` = radius, c, s, probes a table, n_built, use MIH, n_total, high slot bytes.
    """
    radius, n_built, use_mih, n_total = params[0], params[4], params[5], params[6]
    nq = q16s.shape[0]
    cols = _unpack_all(tables, params[7])
    rng = np.empty(2 * q16s.shape[1] * params[3], np.int64)
    cand = np.empty(1024, np.int64)
    out_s = np.empty(max(64, 8 * nq), np.int64)
    out_d = np.empty(out_s.shape[0], np.int32)
    bounds = np.zeros(nq + 1, np.int64)
    cnt = 0
    for i in range(nq):
        lo = cnt
        first = 0
        if use_mih:
            cand, (out_s, out_d, cnt) = _mih_query(
                q16s[i], q32s[i], params, cols, codes32, dead, (rng, cand), (out_s, out_d, cnt)
            )
            first = n_built
        out_s, out_d, cnt = _scan(q64s[i], codes64, dead, first, n_total, radius, out_s, out_d, cnt)
        _finish(out_s, out_d, lo, cnt, ids)
        bounds[i + 1] = cnt
    return out_s[:cnt], out_d[:cnt], bounds


# --------------------------------------------------------------------------- build kernels


@_jit
def _keep_mask(
    slo: NDArray[np.uint16],
    shi: NDArray[np.unsignedinteger[Any]],
    dead: NDArray[np.bool_],
    n_built: int,
) -> NDArray[np.bool_]:
    """Entries of a table to keep: built (slot < n_built) and not tombstoned."""
    keep = np.empty(slo.shape[0], np.bool_)
    for j in range(slo.shape[0]):
        slot = np.int64(slo[j]) | (np.int64(shi[j]) << 16)
        keep[j] = slot < n_built and not dead[slot]
    return keep


@_jit
def _table_offsets(
    old_off: IntArray,
    keep: NDArray[np.bool_],
    codes16: NDArray[np.uint16],
    new_slots: IntArray,
    t: int,
) -> IntArray:
    """Bucket offsets of table ``t`` after merging ``new_slots`` (empty ``keep``: keep all)."""
    cnt = np.zeros(_NBUCKETS + 1, np.int64)
    for b in range(_NBUCKETS):
        if keep.shape[0] == 0:
            cnt[b + 1] = old_off[b + 1] - old_off[b]
        else:
            for j in range(old_off[b], old_off[b + 1]):
                cnt[b + 1] += keep[j]
    for slot in new_slots:
        cnt[np.int64(codes16[slot, t]) + 1] += 1
    for b in range(_NBUCKETS):
        cnt[b + 1] += cnt[b]
    return cnt


@_jit
def _copy_old(
    old: tuple[IntArray, NDArray[np.uint16], NDArray[np.uint16], NDArray[np.unsignedinteger[Any]]],
    keep: NDArray[np.bool_],
    out: tuple[NDArray[np.uint16], NDArray[np.uint16], NDArray[np.unsignedinteger[Any]]],
    pos: IntArray,
) -> None:
    """Copy each bucket's kept old entries to its new start ``pos[b]``, advancing ``pos``."""
    old_off, old_sib, old_slo, old_shi = old
    out_sib, out_slo, out_shi = out
    for b in range(_NBUCKETS):
        lo, hi, p = old_off[b], old_off[b + 1], pos[b]
        if keep.shape[0] == 0:
            out_sib[p : p + hi - lo] = old_sib[lo:hi]
            out_slo[p : p + hi - lo] = old_slo[lo:hi]
            out_shi[p : p + hi - lo] = old_shi[lo:hi]
            p += hi - lo
        else:
            for j in range(lo, hi):
                if keep[j]:
                    out_sib[p], out_slo[p], out_shi[p] = old_sib[j], old_slo[j], old_shi[j]
                    p += 1
        pos[b] = p


@_jit
def _place_new(
    codes16: NDArray[np.uint16],
    new_slots: IntArray,
    t: int,
    out: tuple[NDArray[np.uint16], NDArray[np.uint16], NDArray[np.unsignedinteger[Any]]],
    pos: IntArray,
    scratch: tuple[NDArray[np.uint16], NDArray[np.uint16], IntArray],
) -> None:
    """Bucket ``new_slots`` by key at ``pos[key]`` (stable). Two passes, first by the key's
    high byte, so the final scatter of each group stays within a cache-sized window."""
    out_sib, out_slo, out_shi = out
    tkey, tsib, tslot = scratch
    n = new_slots.shape[0]
    grp = np.zeros(257, np.int64)
    for slot in new_slots:
        grp[(np.int64(codes16[slot, t]) >> 8) + 1] += 1
    for g in range(256):
        grp[g + 1] += grp[g]
    for slot in new_slots:
        key = codes16[slot, t]
        i = grp[np.int64(key) >> 8]
        tkey[i], tsib[i], tslot[i] = key, codes16[slot, t ^ 1], slot
        grp[np.int64(key) >> 8] = i + 1
    for i in range(n):
        b = np.int64(tkey[i])
        p = pos[b]
        out_sib[p], out_slo[p], out_shi[p] = tsib[i], tslot[i] & 0xFFFF, tslot[i] >> 16
        pos[b] = p + 1


@_jit
def _table_fill(
    old: tuple[IntArray, NDArray[np.uint16], NDArray[np.uint16], NDArray[np.unsignedinteger[Any]]],
    keep: NDArray[np.bool_],
    codes16: NDArray[np.uint16],
    new_slots: IntArray,
    t: int,
    out_off: IntArray,
    out: tuple[NDArray[np.uint16], NDArray[np.uint16], NDArray[np.unsignedinteger[Any]]],
    scratch: tuple[NDArray[np.uint16], NDArray[np.uint16], IntArray],
) -> None:
    """Write table ``t``: per bucket, kept old entries then new slots (ascending slots)."""
    pos = out_off[:_NBUCKETS].copy()
    _copy_old(old, keep, out, pos)
    _place_new(codes16, new_slots, t, out, pos, scratch)


@_jit
def _merge_order(
    ids: IntArray,
    dead: NDArray[np.bool_],
    old_order: NDArray[np.uint32],
    drop: bool,
    new_sorted: IntArray,
) -> NDArray[np.uint32]:
    """Merge two id-sorted slot lists (dropping tombstoned old slots when ``drop``)."""
    out = np.empty(old_order.shape[0] + new_sorted.shape[0], np.uint32)
    i = j = n = 0
    while i < old_order.shape[0] or j < new_sorted.shape[0]:
        if i < old_order.shape[0] and drop and dead[old_order[i]]:
            i += 1
            continue
        take_old = j == new_sorted.shape[0] or (
            i < old_order.shape[0] and ids[old_order[i]] <= ids[new_sorted[j]]
        )
        if take_old:
            out[n] = old_order[i]
            i += 1
        else:
            out[n] = new_sorted[j]
            j += 1
        n += 1
    return out[:n].copy()


@_jit
def _find_sorted(ids: IntArray, dead: NDArray[np.bool_], order: Any, qid: int) -> int:
    """Live slot with id ``qid`` in the id-sorted slot list ``order``, or -1."""
    lo, hi = 0, order.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if ids[order[mid]] < qid:
            lo = mid + 1
        else:
            hi = mid
    while lo < order.shape[0] and ids[order[lo]] == qid:
        if not dead[order[lo]]:
            return int(order[lo])
        lo += 1
    return -1


@_jit
def _find_live(
    ids: IntArray,
    dead: NDArray[np.bool_],
    order: NDArray[np.uint32],
    n_built: int,
    n_total: int,
    query: IntArray,
) -> IntArray:
    """Live slot of each query id (-1 if absent): binary search of ``order``, then pending."""
    res = np.full(query.shape[0], -1, np.int64)
    psort = np.empty(0, np.int64)
    if query.shape[0] * (n_total - n_built) > (1 << 22):
        psort = np.argsort(ids[n_built:n_total], kind="mergesort") + n_built
    for i in range(query.shape[0]):
        qid = query[i]
        res[i] = _find_sorted(ids, dead, order, qid)
        if res[i] >= 0:
            continue
        if psort.shape[0] > 0:
            res[i] = _find_sorted(ids, dead, psort, qid)
            continue
        for slot in range(n_built, n_total):
            if ids[slot] == qid and not dead[slot]:
                res[i] = slot
                break
    return res


@_jit
def _max_slot(slo: NDArray[np.uint16], shi: NDArray[np.unsignedinteger[Any]]) -> int:
    """Largest slot referenced by a table (-1 if empty); used to validate loaded files."""
    top = -1
    for j in range(slo.shape[0]):
        top = max(top, int(np.int64(slo[j]) | (np.int64(shi[j]) << 16)))
    return top


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class _View:
    """Immutable snapshot read by searches; writers publish a new one."""

    codes: NDArray[np.uint8]  # [capacity, nbytes]
    ids: IntArray  # [capacity]
    dead: NDArray[np.bool_]  # [capacity], written in place by remove()
    n_total: int  # slots in use; [n_built, n_total) are pending
    n_built: int  # live slots < n_built are in every table
    id_order: NDArray[np.uint32]  # table slots sorted by id, for remove()
    tables: tuple[NDArray[np.uint8], ...]  # packed tables, see _layout
    hb: int  # bytes of high slot bits in every table: 1 (<= 2**24 slots) or 2


def _hi_bytes(n_slots: int) -> int:
    """Bytes of high slot bits: 1 up to 2**24 slots, 2 up to 2**32."""
    if n_slots <= 1 << 24:
        return 1
    if n_slots <= 1 << 32:
        return 2
    raise ValueError("a HammingIndex holds at most 2**32 slots; shard the collection")


TableParts = tuple[IntArray, NDArray[np.uint16], NDArray[np.uint16], NDArray[Any]]


def _np_parts(buf: NDArray[np.uint8], hb: int) -> TableParts:
    """Typed views (offsets, sib, slo, shi as uint8/uint16) of a packed table."""
    off = buf[:_OFF_BYTES].view(np.int64)
    n = int(off[-1])
    a_sib, a_slo, a_shi, end = _layout(n, hb)
    return (
        off,
        buf[a_sib : a_sib + 2 * n].view(np.uint16),
        buf[a_slo : a_slo + 2 * n].view(np.uint16),
        buf[a_shi:end].view(np.uint8 if hb == 1 else np.uint16),
    )


def _new_table(off: IntArray, hb: int) -> tuple[NDArray[np.uint8], TableParts]:
    """A zeroed packed table with bucket offsets ``off``, and its typed views."""
    buf = np.zeros(_layout(int(off[-1]), hb)[3], np.uint8)
    buf[:_OFF_BYTES].view(np.int64)[:] = off
    return buf, _np_parts(buf, hb)


def _widen_table(buf: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Copy of a 1-high-byte table with 2 high bytes (past 2**24 slots)."""
    off, sib, slo, shi = _np_parts(buf, 1)
    wide, parts = _new_table(off, 2)
    parts[1][:], parts[2][:], parts[3][:] = sib, slo, shi
    return wide


def _empty_view(nbits: int) -> _View:
    empty = _new_table(np.zeros(_NBUCKETS + 1, np.int64), 1)[0]
    return _View(
        codes=np.zeros((0, nbits // 8), np.uint8),
        ids=np.zeros(0, np.int64),
        dead=np.zeros(0, np.bool_),
        n_total=0,
        n_built=0,
        id_order=np.zeros(0, np.uint32),
        tables=(empty,) * (nbits // _HALF_BITS),
        hb=1,
    )


def _unique_sorted(a: IntArray) -> IntArray:
    """Sorted distinct values (``np.unique`` is much slower on large int64 arrays)."""
    srt = np.sort(a, kind="stable")
    if srt.shape[0] < 2:
        return srt
    return srt[np.concatenate(([True], srt[1:] != srt[:-1]))]


def _set(tup: tuple[Any, ...], t: int, value: Any) -> tuple[Any, ...]:
    return (*tup[:t], value, *tup[t + 1 :])


_NO_KEEP: Final = np.zeros(0, np.bool_)


def _build_table(
    view: _View,
    codes: NDArray[np.uint8],
    t: int,
    keep: NDArray[np.bool_],
    new_slots: IntArray,
    scratch: tuple[NDArray[np.uint16], NDArray[np.uint16], IntArray],
) -> NDArray[np.uint8]:
    """Table ``t`` of ``view`` with its ``keep`` entries plus ``new_slots`` of ``codes``."""
    codes16 = codes.view(np.uint16)
    old = _np_parts(view.tables[t], view.hb)
    off = _table_offsets(old[0], keep, codes16, new_slots, t)
    buf, parts = _new_table(off, view.hb)
    _table_fill(old, keep, codes16, new_slots, t, off, parts[1:], scratch)
    return buf


class _Scratch:
    """Per-thread temporaries of :func:`_place_new` for ``n`` new slots, reused across tables."""

    def __init__(self, n: int, threads: int) -> None:
        self._free = [
            (np.empty(n, np.uint16), np.empty(n, np.uint16), np.empty(n, np.int64))
            for _ in range(threads)
        ]
        self._local = threading.local()

    def get(self) -> tuple[NDArray[np.uint16], NDArray[np.uint16], IntArray]:
        if not hasattr(self._local, "arrays"):
            self._local.arrays = self._free.pop()
        return cast(tuple[NDArray[np.uint16], NDArray[np.uint16], IntArray], self._local.arrays)


def _in_parallel(fn: Callable[[int], None], count: int, threads: int) -> None:
    """Run ``fn(0..count-1)`` on ``threads`` threads (the numba kernels release the GIL)."""
    if threads <= 1:
        for i in range(count):
            fn(i)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, range(count)))


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
        """Tombstone the given ids and zero their codes; return how many were live.

        Effective on return. Searches check the tombstone before they report a slot,
        so zeroing the code changes no answer; the tables keep a 16-bit slice of the
        code until the next :meth:`compact` drops the slot from them.
        """
        ids_a = _unique_sorted(self._as_ids(ids))
        with self._write_lock:
            view = self._view
            slots = self._find(view, ids_a)
            slots = slots[slots >= 0]
            view.dead[slots] = True
            view.codes[slots] = 0  # erased: a withdrawn value stays in no array or snapshot
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


# --------------------------------------------------------------------------- file format


def _sections(view: _View, dead: NDArray[np.bool_]) -> list[tuple[str, np.ndarray[Any, Any]]]:
    n = view.n_total
    out: list[tuple[str, np.ndarray[Any, Any]]] = [
        ("codes", view.codes[:n]),
        ("ids", view.ids[:n]),
        ("dead", dead),
        ("id_order", view.id_order),
    ]
    out += [(f"table{t}", buf) for t, buf in enumerate(view.tables)]
    return out


def _write_file(
    f: io.BufferedIOBase, nbits: int, view: _View, sections: list[tuple[str, np.ndarray[Any, Any]]]
) -> None:
    entries: list[dict[str, Any]] = []
    pos = 0
    for name, arr in sections:
        dtype = arr.dtype.newbyteorder("<").str
        entries.append({"name": name, "dtype": dtype, "shape": list(arr.shape), "offset": pos})
        pos += -(-arr.nbytes // _ALIGN) * _ALIGN
    header: dict[str, Any] = {"nbits": nbits, "n_total": view.n_total, "n_built": view.n_built}
    header["hb"] = view.hb
    header["body"] = pos
    header["sections"] = entries
    blob = json.dumps(header).encode()
    start = -(-(16 + len(blob)) // _ALIGN) * _ALIGN
    f.write(_MAGIC + _VERSION.to_bytes(4, "little") + len(blob).to_bytes(4, "little") + blob)
    f.write(b"\0" * (start - 16 - len(blob)))
    for (_, arr), entry in zip(sections, entries, strict=True):
        data = np.ascontiguousarray(arr, dtype=np.dtype(entry["dtype"]))
        f.write(data.reshape(-1).view(np.uint8).data)
        f.write(b"\0" * (-data.nbytes % _ALIGN))


def _read_file(f: io.BufferedIOBase) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    head = f.read(16)
    if len(head) < 16 or head[:8] != _MAGIC:
        raise IndexFileError("not an Empreinte Hamming index file (bad magic)")
    version = int.from_bytes(head[8:12], "little")
    if version != _VERSION:
        raise IndexFileError(f"unsupported index file version {version} (expected {_VERSION})")
    header = _parse_header(f.read(int.from_bytes(head[12:16], "little")))
    start = -(-f.tell() // _ALIGN) * _ALIGN
    size = os.fstat(f.fileno()).st_size
    if size != start + int(header["body"]):
        raise IndexFileError(f"index file is {size} bytes, header says {start + header['body']}")
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for entry in header["sections"]:
        if not isinstance(entry, dict):
            raise IndexFileError("corrupt section entry")
        arrays[str(entry.get("name"))] = _read_section(f, start, entry)
    return header, arrays


def _parse_header(blob: bytes) -> dict[str, Any]:
    try:
        header = json.loads(blob.decode())
        for key in ("nbits", "n_total", "n_built", "hb", "body"):
            if not isinstance(header[key], int) or header[key] < 0:
                raise IndexFileError(f"bad header field {key}")
        if not isinstance(header["sections"], list):
            raise IndexFileError("bad header sections")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise IndexFileError(f"corrupt index header: {exc}") from None
    return cast(dict[str, Any], header)


_FILE_DTYPES: Final = {"|u1", "<u4", "<i8", "|b1"}


def _read_section(f: io.BufferedIOBase, start: int, entry: dict[str, Any]) -> np.ndarray[Any, Any]:
    try:
        dtype = str(entry["dtype"])
        shape = tuple(int(x) for x in entry["shape"])
        offset = int(entry["offset"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"corrupt section entry: {exc}") from None
    if dtype not in _FILE_DTYPES or any(x < 0 for x in shape) or offset < 0:
        raise IndexFileError(f"bad section {entry.get('name')!r}")
    arr = np.empty(shape, np.dtype(dtype).newbyteorder("="))
    f.seek(start + offset)
    if arr.nbytes and f.readinto(arr.reshape(-1).view(np.uint8).data) != arr.nbytes:
        raise IndexFileError(f"index file truncated in section {entry.get('name')!r}")
    return arr


def _view_from_arrays(
    nbits: int, header: dict[str, Any], arrays: dict[str, np.ndarray[Any, Any]]
) -> tuple[_View, bool]:
    """Check shapes, dtypes and cross references of loaded arrays and assemble a view; also
    say whether the tables hold only live built slots (no tombstones to drop)."""
    m, n, n_built = nbits // _HALF_BITS, int(header["n_total"]), int(header["n_built"])
    _expect(arrays, "codes", np.uint8, (n, nbits // 8))
    _expect(arrays, "ids", np.int64, (n,))
    _expect(arrays, "dead", np.bool_, (n,))
    order = _expect(arrays, "id_order", np.uint32, None)
    if n_built > n or order.ndim != 1 or (order.size and int(order.max()) >= n):
        raise IndexFileError("slot references out of range")
    hb = int(header["hb"])
    if hb not in (1, 2):
        raise IndexFileError(f"bad slot width {hb}")
    checked = [_check_table(arrays, t, hb, n) for t in range(m)]
    tables = tuple(buf for buf, _ in checked)
    clean = max(top for _, top in checked) < n_built and not arrays["dead"][:n_built].any()
    view = _View(
        codes=arrays["codes"],
        ids=arrays["ids"],
        dead=arrays["dead"],
        n_total=n,
        n_built=n_built,
        id_order=order,
        tables=tables,
        hb=hb,
    )
    return view, bool(clean)


def _check_table(
    arrays: dict[str, np.ndarray[Any, Any]], t: int, hb: int, n_slots: int
) -> tuple[NDArray[np.uint8], int]:
    """Packed table ``t`` and its largest slot, checked for size, monotone offsets and
    in-range slots."""
    buf = _expect(arrays, f"table{t}", np.uint8, None)
    if buf.ndim != 1 or buf.shape[0] < _OFF_PAD:
        raise IndexFileError(f"table {t} is too short")
    off = buf[:_OFF_BYTES].view(np.int64)
    if off[0] != 0 or bool(np.any(np.diff(off) < 0)) or buf.shape[0] != _layout(off[-1], hb)[3]:
        raise IndexFileError(f"table {t} is inconsistent")
    _, _, slo, shi = _np_parts(buf, hb)
    top = _max_slot(slo, shi)
    if top >= n_slots:
        raise IndexFileError(f"table {t} references a slot out of range")
    return buf, top


def _expect(
    arrays: dict[str, np.ndarray[Any, Any]],
    name: str,
    dtype: type[Any] | None,
    shape: tuple[int, ...] | None,
) -> np.ndarray[Any, Any]:
    arr = arrays.get(name)
    if arr is None:
        raise IndexFileError(f"missing section {name!r}")
    if (dtype is not None and arr.dtype != dtype) or (shape is not None and arr.shape != shape):
        raise IndexFileError(f"section {name!r} has dtype {arr.dtype} shape {arr.shape}")
    return arr
