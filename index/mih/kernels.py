"""Numba kernels of the multi-index Hamming index: search (probe, verify, scan) and build."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from empreinte.index.kernels import jit as _jit
from empreinte.index.kernels import popcnt as _popcnt

_HALF_BITS: Final = 16
_NBUCKETS: Final = 1 << _HALF_BITS
_MAX_PROBE_RADIUS: Final = 3  # V(16, 3) = 697 probes a table; past it a scan is cheaper
_MAGIC: Final = b"EMPRMIH\x00"
_VERSION: Final = 1
_ALIGN: Final = 64

IntArray = NDArray[np.int64]


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
