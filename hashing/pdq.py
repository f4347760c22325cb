"""PDQ perceptual hash (256 bits), bit-exact with the reference C++ core.

Reference: Meta/Facebook ThreatExchange, ``hashing/hashing.pdf`` ("The TMK+PDQF
Video-Hashing Algorithm and the PDQ Image Similarity Algorithm"), and the C++
implementation ``pdq/cpp/hashing/pdqhashing.cpp``, ``torben.cpp`` and
``pdq/cpp/downscaling/downscaling.cpp``, as called by the ``pdqhash`` 0.2.8
Python binding (``pdqhash/bindings.pyx``).

Pipeline (reference):

1. luma ``Y = 0.299 R + 0.587 G + 0.114 B`` in float64 (numpy, as the binding
   does), rounded to float32;
2. Jarosz filter (``jaroszFilterFloat``): two rounds of a box along rows then
   a box along columns, each box a float32 running sum (``box1DFloat``) with
   window ``ceil(dim / 128)`` (``computeJaroszFilterWindowSize(dim, 64)``);
3. decimation to 64x64 at pixel centres (``decimateFloat``); a 64x64 input
   skips steps 2-3 (``pdqFloat256FromFloatLuma``, not the dihedral variant);
4. quality from the 64x64 gradients (``pdqImageDomainQualityMetric``);
5. the 16x16 low-frequency block of the 2-D DCT (``dct64To16``);
6. bit ``16 i + j`` set where ``B[i][j]`` exceeds the median
   (``pdqBuffer16x16ToBits``).

Every float32 operation that produces a value the hash depends on is the
reference's, on the same operands, in the same order; only the loop order
differs (cache friendly, see ``_pass1_cols_pass2_rows``), and nothing the
decimation does not sample is computed.

Hash layout: the 32 bytes are the big-endian integer whose bit ``k`` is the
reference's bit ``k`` (``Hash256::setBit(k)``: word ``k >> 4``, bit
``k & 15``).  The reference prints words 15..0 as ``%04hx``, hence
``pdq_hex(h) == h.hex()``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = [
    "HASH_BYTES",
    "MIN_HASHABLE_DIM",
    "pdq_dihedral_from_rgb",
    "pdq_from_hex",
    "pdq_from_rgb",
    "pdq_hex",
]

MIN_HASHABLE_DIM = 5
"""Reference ``MIN_HASHABLE_DIM``: smaller images hash to zeros, quality 0."""

HASH_BYTES = 32
_DOWN = 64  # decimated image side
_DCT = 16  # kept DCT coefficients per side
_BLOCK = 4  # image rows filtered together (independent dependency chains)
_U8 = npt.NDArray[np.uint8]
_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]
_HEX = frozenset("0123456789abcdefABCDEF")

# error_model="numpy": no zero-division checks (no divisor is ever 0), so the
# division loops vectorise.  No fastmath: it would reorder float operations.
_jit = nb.njit(cache=True, nogil=True, error_model="numpy")


def _dct_matrix() -> _F32:
    """The 16x64 DCT-II matrix exactly as ``dct_matrix_64`` in pdqhashing.cpp.

    The scale ``sqrt(2/64)`` is stored as a float32, the cosine is a double;
    their double product is rounded to float32.  ``math.cos`` is the C
    library's ``cos``, as ``std::cos``.
    """
    scale = float(np.float32(math.sqrt(2.0 / _DOWN)))
    step = math.pi / 2.0 / _DOWN
    rows = [
        [scale * math.cos(step * (i + 1) * (2 * j + 1)) for j in range(_DOWN)] for i in range(_DCT)
    ]
    return np.asarray(rows, dtype=np.float64).astype(np.float32)


_DCT_MATRIX = _dct_matrix()


# ---------------------------------------------------------------- box filter
@_jit
def _phases(n: int, w: int, n_out: int) -> tuple[int, int, int, int]:
    """Repetition counts of the 4 phases of ``box1DFloat``, for ``n_out`` outputs.

    Phase 1 only adds; 2 adds and writes (growing window); 3 adds, subtracts
    and writes (full window); 4 subtracts and writes (shrinking window).
    Phases 2-4 are clipped so that exactly ``n_out`` values are written.
    """
    half = (w + 2) // 2
    p2 = min(w - half + 1, n_out)
    p3 = min(n - w, n_out - p2)
    p4 = min(half - 1, n_out - p2 - p3)
    return half - 1, p2, p3, p4


@_jit
def _counts(n: int, w: int) -> _F32:
    """``box1DFloat``'s ``current_window_size`` at each output, as float32."""
    p1, p2, p3, _ = _phases(n, w, n)
    out = np.empty(n, np.float32)
    for oi in range(n):
        if oi < p2:
            out[oi] = p1 + oi + 1
        elif oi < p2 + p3:
            out[oi] = w
        else:
            out[oi] = w - (oi - p2 - p3) - 1
    return out


@_jit
def _box_sums4(src: _F32, dst: _F32, w: int, n_out: int) -> None:
    """Running sums of ``box1DFloat`` (before its division) along 4 rows.

    ``dst[k, oi]`` gets the float32 ``sum`` the reference holds when it writes
    output ``oi`` of row ``k``.  The 4 rows are independent dependency chains,
    interleaved for instruction-level parallelism; each performs the
    reference's adds and subtracts in the reference's order.
    """
    p1, p2, p3, p4 = _phases(src.shape[1], w, n_out)
    r0, r1, r2, r3 = src[0], src[1], src[2], src[3]
    o0, o1, o2, o3 = dst[0], dst[1], dst[2], dst[3]
    a = b = c = d = np.float32(0.0)
    for ri in range(p1):
        a += r0[ri]
        b += r1[ri]
        c += r2[ri]
        d += r3[ri]
    for oi in range(p2 + p3 + p4):
        if oi < p2 + p3:
            a += r0[p1 + oi]
            b += r1[p1 + oi]
            c += r2[p1 + oi]
            d += r3[p1 + oi]
        if oi >= p2:
            a -= r0[oi - p2]
            b -= r1[oi - p2]
            c -= r2[oi - p2]
            d -= r3[oi - p2]
        o0[oi], o1[oi], o2[oi], o3[oi] = a, b, c, d


@_jit
def _col_step(
    sums: _F32, src: _F32, step: int, ph: tuple[int, int, int, int], div: np.float32, out: _F32
) -> None:
    """Step ``step`` of ``box1DFloat`` down the columns, all columns at once.

    A row-major sweep keeping one running sum per column (vectorisable)
    instead of the reference's column-by-column walk; per column, the same
    float32 operations in the same order.  ``src`` holds the input rows (a
    ring buffer indexed modulo its length); the step adds row ``step``,
    subtracts row ``step - w`` and, past phase 1, writes output row
    ``step - p1``, divided by the window count ``div``, into ``out``.
    """
    p1, p2, p3, _ = ph
    add = src[step % src.shape[0]]
    sub = src[(step - p1 - p2) % src.shape[0]]
    if step < p1:
        for j in range(sums.shape[0]):
            sums[j] += add[j]
    elif step < p1 + p2:
        for j in range(sums.shape[0]):
            sums[j] += add[j]
            out[j] = sums[j] / div
    elif step < p1 + p2 + p3:
        for j in range(sums.shape[0]):
            sums[j] += add[j]
            sums[j] -= sub[j]
            out[j] = sums[j] / div
    else:
        for j in range(sums.shape[0]):
            sums[j] -= sub[j]
            out[j] = sums[j] / div


# ------------------------------------------------------------ fused passes
@_jit
def _luma_row(px: _U8, out: _F32) -> None:
    """One row of the binding's luma from interleaved RGB bytes ``px``:
    float64 ``R*.299 + G*.587 + B*.114`` summed left to right (as numpy
    evaluates it), then rounded to float32."""
    for j in range(out.shape[0]):
        y = px[3 * j] * 0.299 + px[3 * j + 1] * 0.587
        out[j] = np.float32(y + px[3 * j + 2] * 0.114)


@_jit
def _rows_pass1(rgb: _U8, i0: int, wr: int, div: _F32, luma: _F32, dst: _F32) -> None:
    """Luma then the first row box, for the (up to) 4 image rows from ``i0``."""
    for k in range(min(_BLOCK, rgb.shape[0] - i0)):
        _luma_row(rgb[i0 + k], luma[k])
    _box_sums4(luma, dst, wr, dst.shape[1])
    for k in range(_BLOCK):
        for j in range(dst.shape[1]):
            dst[k, j] = dst[k, j] / div[j]


@_jit
def _rows_pass2(src: _F32, wr: int, cols: _I64, div: _F32, tmp: _F32, dst: _F32) -> None:
    """Second row box on 4 rows, kept at the sampled ``cols`` only."""
    _box_sums4(src, tmp, wr, cols[_DOWN - 1] + 1)
    for k in range(dst.shape[0]):
        for c in range(_DOWN):
            dst[k, c] = tmp[k, cols[c]] / div[cols[c]]


@_jit
def _pass1_cols_pass2_rows(rgb: _U8, wr: int, wc: int, cols: _I64, n_rows: int) -> _F32:
    """Rows box, columns box, rows box of the luma of ``rgb`` (H x 3W bytes).

    Returns rows ``< n_rows`` of the result at the 64 sampled ``cols`` (an
    ``H x 64`` array; later rows are not needed).  A single sweep down the
    image: input rows are made 4 at a time into a ring buffer of at least
    ``wc + 4`` rows; the column pass adds row ``s`` and subtracts row
    ``s - wc`` of that ring; its output rows go 4 at a time through the second
    row pass.  The working set stays in cache.
    """
    h, w = rgb.shape[0], rgb.shape[1] // 3
    ring = np.zeros((_BLOCK * ((wc + 2 * _BLOCK - 1) // _BLOCK), w), np.float32)
    luma = np.zeros((_BLOCK, w), np.float32)
    block = np.zeros((_BLOCK, w), np.float32)
    tmp = np.zeros((_BLOCK, w), np.float32)
    sums = np.zeros(w, np.float32)
    div, div_c = _counts(w, wr), _counts(h, wc)
    ph = _phases(h, wc, n_rows)
    out = np.zeros((h, _DOWN), np.float32)
    m = ring.shape[0]
    for step in range(ph[0] + n_rows):
        if step % _BLOCK == 0 and step < ph[0] + ph[1] + ph[2]:
            _rows_pass1(rgb, step, wr, div, luma, ring[step % m : step % m + _BLOCK])
        oi = max(step - ph[0], 0)
        _col_step(sums, ring, step, ph, div_c[oi], block[oi % _BLOCK])
        if step >= ph[0] and (oi % _BLOCK == _BLOCK - 1 or oi == n_rows - 1):
            _rows_pass2(block, wr, cols, div, tmp, out[oi - oi % _BLOCK : oi + 1])
    return out


@_jit
def _box_cols(src: _F32, wc: int, rows: _I64) -> _F32:
    """Second column box on the ``H x 64`` array, kept at the sampled ``rows``."""
    ph = _phases(src.shape[0], wc, rows[_DOWN - 1] + 1)
    sums = np.zeros(src.shape[1], np.float32)
    line = np.zeros(src.shape[1], np.float32)
    res = np.zeros((_DOWN, src.shape[1]), np.float32)
    div = _counts(src.shape[0], wc)
    k = 0
    for step in range(ph[0] + rows[_DOWN - 1] + 1):
        _col_step(sums, src, step, ph, div[max(step - ph[0], 0)], line)
        while k < _DOWN and rows[k] == step - ph[0]:
            for j in range(line.shape[0]):  # (array assignment compiles slowly)
                res[k, j] = line[j]
            k += 1
    return res


@_jit
def _luma_64(rgb: _U8) -> _F32:
    """Luma of a 64x64 image (H x 3W bytes), used as is by the reference."""
    out = np.empty((_DOWN, _DOWN), np.float32)
    for i in range(_DOWN):
        _luma_row(rgb[i], out[i])
    return out


@_jit
def _dct64_to_16(a: _F32, d: _F32) -> _F32:
    """``dct64To16``: ``B = (D A) D^T``, float32 sums in increasing ``k``."""
    t = np.zeros((_DCT, _DOWN), np.float32)
    for i in range(_DCT):
        for k in range(_DOWN):
            for j in range(_DOWN):
                t[i, j] += d[i, k] * a[k, j]
    b = np.zeros((_DCT, _DCT), np.float32)
    for i in range(_DCT):
        for j in range(_DCT):
            for k in range(_DOWN):
                b[i, j] += t[i, k] * d[j, k]
    return b


# ------------------------------------------------------- downscale, quality
def _centres(n: int) -> _I64:
    """``decimateFloat`` sample indices ``(int)(((k + 0.5) * n) / 64)``."""
    return (((np.arange(_DOWN) + 0.5) * n) / _DOWN).astype(np.int64)


def _window(n: int) -> int:
    """``computeJaroszFilterWindowSize(n, 64)``, i.e. ``ceil(n / 128)``."""
    return (n + 2 * _DOWN - 1) // (2 * _DOWN)


def _downscale(rgb: _U8) -> _F32:
    """``jaroszFilterFloat`` (2 rounds) then ``decimateFloat``: 64x64 luma."""
    h, w = rgb.shape[0], rgb.shape[1]
    wr, wc = _window(w), _window(h)
    rows, cols = _centres(h), _centres(w)
    # Rows of the first column pass needed by the last sampled row.
    n_rows = min(h, int(rows[-1]) + (wc + 2) // 2)
    partial = _pass1_cols_pass2_rows(rgb.reshape(h, 3 * w), wr, wc, cols, n_rows)
    out: _F32 = _box_cols(partial, wc, rows)
    return out


def _quality(a: _F32) -> int:
    """``pdqImageDomainQualityMetric``: quantised gradients summed, / 90.

    Each ``(int)(((u - v) * 100) / 255)`` is float32 arithmetic truncated
    toward zero; the integer sum is order-free.
    """
    hundred, scale = np.float32(100), np.float32(255)
    total = 0
    for diff in (a[:-1, :] - a[1:, :], a[:, :-1] - a[:, 1:]):
        total += int(np.abs((diff * hundred / scale).astype(np.int32)).sum())
    return min(total // 90, 100)


# ---------------------------------------------------------------- hash bits
def _bits(b: _F32) -> bytes:
    """``pdqBuffer16x16ToBits``: bit ``k`` set where ``b.flat[k] > median``.

    ``torben(b, 256)`` returns the 128th smallest value (its loop exits with
    at most 128 values on either side of the guess, and it returns the
    largest value below, the guess, or the smallest above, whichever is
    128th), i.e. ``partition(b, 127)[127]``.  Packing bits 255..0 MSB first
    gives the big-endian layout documented in the module.
    """
    flat = b.ravel()
    median = np.partition(flat, 127)[127]
    return np.packbits(flat[::-1] > median).tobytes()


def _dihedral(b: _F32) -> list[_F32]:
    """The 8 DCT buffers of ``dct16OriginalTo*``, in the reference order.

    Mirroring an axis negates the coefficients of even index along it (index
    0 is frequency 1); a quarter turn also transposes.  Negation and
    transposition are exact.
    """
    odd = np.arange(_DCT) % 2 == 1
    neg_even_rows = np.where(odd[:, None], b, -b)
    neg_even_cols = np.where(odd[None, :], b, -b)
    neg_odd_sum = np.where(odd[:, None] ^ odd[None, :], -b, b)
    return [
        b,
        neg_even_cols.T,  # rotate90
        neg_odd_sum,  # rotate180
        neg_even_rows.T,  # rotate270
        neg_even_rows,  # flipX
        neg_even_cols,  # flipY
        b.T,  # flipPlus1
        neg_odd_sum.T,  # flipMinus1
    ]


# --------------------------------------------------------------- public API
def _hashes(rgb: np.ndarray, dihedral: bool) -> tuple[list[bytes], int]:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 array, got {rgb.dtype} {rgb.shape}")
    arr = np.ascontiguousarray(rgb)
    h, w = arr.shape[0], arr.shape[1]
    if min(h, w) < MIN_HASHABLE_DIM:
        return [bytes(HASH_BYTES)] * (8 if dihedral else 1), 0
    if h == w == _DOWN and not dihedral:
        a: _F32 = _luma_64(arr.reshape(h, 3 * w))
    else:
        a = _downscale(arr)
    b: _F32 = _dct64_to_16(a, _DCT_MATRIX)
    buffers = _dihedral(b) if dihedral else [b]
    return [_bits(x) for x in buffers], _quality(a)


def pdq_from_rgb(rgb: np.ndarray) -> tuple[bytes, int]:
    """PDQ hash of an HxWx3 uint8 array: ``(32-byte hash, quality 0..100)``.

    Same as ``pdqhash.compute`` (``pdqHash256FromFloatLuma``) on the same
    pixels.  Images under ``MIN_HASHABLE_DIM`` on a side give zeros, quality 0.
    """
    hashes, quality = _hashes(rgb, dihedral=False)
    return hashes[0], quality


def pdq_dihedral_from_rgb(rgb: np.ndarray) -> tuple[list[bytes], int]:
    """The 8 dihedral hashes (``pdqDihedralHash256esFromFloatLuma``) and quality.

    Order: original, rotate90, rotate180, rotate270, flipX, flipY, flipPlus1,
    flipMinus1.  Unlike ``pdq_from_rgb``, a 64x64 image is filtered too, as in
    the reference.
    """
    return _hashes(rgb, dihedral=True)


def pdq_hex(h: bytes) -> str:
    """64 lowercase hex digits, as ``Hash256::format`` prints the hash."""
    if len(h) != HASH_BYTES:
        raise ValueError(f"a PDQ hash has {HASH_BYTES} bytes, got {len(h)}")
    return h.hex()


def pdq_from_hex(s: str) -> bytes:
    """Inverse of ``pdq_hex``; raises ``ValueError`` unless 64 hex digits."""
    if len(s) != 2 * HASH_BYTES or not _HEX.issuperset(s):
        raise ValueError(f"a PDQ hash is {2 * HASH_BYTES} hex digits, got {s!r}")
    return bytes.fromhex(s)
