"""The index's state: immutable views of slot arrays and packed tables, and table builders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
from numpy.typing import NDArray

from empreinte.index.mih.kernels import (
    _HALF_BITS,
    _NBUCKETS,
    _OFF_BYTES,
    IntArray,
    _layout,
    _table_fill,
    _table_offsets,
)

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
