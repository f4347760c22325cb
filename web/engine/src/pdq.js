/**
 * PDQ perceptual hash (256 bits), bit-exact with `hashing/pdq.py` and so with the
 * reference C++ core (ThreatExchange `pdqhashing.cpp`, `downscaling.cpp`).
 *
 * Every float32 operation of the reference is reproduced with `Math.fround` on
 * the same operands in the same order: a double-precision +, -, * or / of two
 * float32 values, rounded once to float32, equals the float32 operation.
 */

const DOWN = 64;
const DCT = 16;
const MIN_HASHABLE_DIM = 5;
const f = Math.fround;

/** Build the 16x64 DCT-II matrix as `dct_matrix_64`: float32 scale times a double cosine. */
function dctMatrix() {
  const scale = f(Math.sqrt(2.0 / DOWN));
  const step = Math.PI / 2.0 / DOWN;
  const m = new Float32Array(DCT * DOWN);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DOWN; j++) m[i * DOWN + j] = scale * Math.cos(step * (i + 1) * (2 * j + 1));
  }
  return m;
}

export const DCT_MATRIX = dctMatrix();

/** Compute the luma `0.299 R + 0.587 G + 0.114 B` (float64, left to right), rounded to float32. */
function lumaRow(rgb, offset, w, out) {
  for (let j = 0, q = offset; j < w; j++, q += 3) {
    out[j] = rgb[q] * 0.299 + rgb[q + 1] * 0.587 + rgb[q + 2] * 0.114;
  }
}

/** Return `computeJaroszFilterWindowSize(n, 64)`, i.e. ceil(n / 128). */
function windowSize(n) {
  return Math.floor((n + 2 * DOWN - 1) / (2 * DOWN));
}

/** Return the four phase lengths of `box1DFloat` over `n` values with window `win`. */
function phases(n, win) {
  const half = Math.floor((win + 2) / 2);
  return [half - 1, win - half + 1, n - win, half - 1];
}

/** Run `box1DFloat` along one row `src[s0 ..< s0 + n]` into `dst[d0 ..< d0 + n]`. */
function boxRow(src, s0, n, win, dst, d0) {
  const [p1, p2, p3, p4] = phases(n, win);
  let li = s0;
  let ri = s0;
  let oi = d0;
  let sum = 0;
  let cws = 0;
  for (let i = 0; i < p1; i++) { sum = f(sum + src[ri++]); cws++; }
  for (let i = 0; i < p2; i++) { sum = f(sum + src[ri++]); cws++; dst[oi++] = sum / cws; }
  for (let i = 0; i < p3; i++) {
    sum = f(sum + src[ri++]);
    sum = f(sum - src[li++]);
    dst[oi++] = sum / cws;
  }
  for (let i = 0; i < p4; i++) { sum = f(sum - src[li++]); cws--; dst[oi++] = sum / cws; }
}

/**
 * Run `box1DFloat` along one row like {@link boxRow}, keeping only the outputs
 * at the increasing indices `keep` (written to `dst[d0 + k]`). The running sum
 * is the reference's; the outputs after the last kept one are not computed.
 */
function boxRowAt(src, s0, n, win, keep, dst, d0) {
  const [p1, p2, p3] = phases(n, win);
  let li = s0;
  let ri = s0;
  let sum = 0;
  let cws = 0;
  for (let i = 0; i < p1; i++) { sum = f(sum + src[ri++]); cws++; }
  let oi = 0;
  for (let k = 0; k < keep.length; k++) {
    const target = keep[k];
    // Phase 2: the window grows.
    for (; oi <= target && oi < p2; oi++) { sum = f(sum + src[ri++]); cws++; }
    // Phase 3: the window slides.
    const end3 = Math.min(target + 1, p2 + p3);
    for (; oi < end3; oi++) { sum = f(sum + src[ri++]); sum = f(sum - src[li++]); }
    // Phase 4: the window shrinks.
    for (; oi <= target; oi++) { sum = f(sum - src[li++]); cws--; }
    dst[d0 + k] = sum / cws;
  }
}

/**
 * Run `box1DFloat` down every column of `src` (h x w, of which only the rows
 * the outputs need are read) into `dst`, for output rows `< nOut`.
 *
 * A row-major sweep holding one running sum per column: per column, the same
 * float32 operations in the same order as the reference's column walk.
 */
function boxCols(src, dst, h, w, win, nOut) {
  const [p1, p2, p3] = phases(h, win);
  const sums = new Float32Array(w);
  let ri = 0;
  let li = 0;
  let oi = 0;
  let cws = 0;
  for (let step = 0; step < p1 + nOut; step++) {
    if (step < p1 + p2 + p3) {
      for (let j = 0; j < w; j++) sums[j] = sums[j] + src[ri + j];
      ri += w;
    }
    if (step >= p1 + p2) {
      for (let j = 0; j < w; j++) sums[j] = sums[j] - src[li + j];
      li += w;
    }
    if (step < p1 + p2) cws++;
    else if (step >= p1 + p2 + p3) cws--;
    if (step >= p1) {
      for (let j = 0; j < w; j++) dst[oi + j] = sums[j] / cws;
      oi += w;
    }
  }
}

/** Return the `decimateFloat` sample indices `(int)(((k + 0.5) * n) / 64)`. */
function centres(n) {
  const out = new Int32Array(DOWN);
  for (let k = 0; k < DOWN; k++) out[k] = Math.floor(((k + 0.5) * n) / DOWN);
  return out;
}

/**
 * Filter the luma of `rgb` with `jaroszFilterFloat` (2 rounds) and decimate it
 * to 64x64, computing only what the decimation samples: the second row pass
 * is kept at the 64 sampled columns, the second column pass at the 64 rows.
 */
function downscale(rgb, h, w) {
  const wr = windowSize(w);
  const wc = windowSize(h);
  const rows = centres(h);
  const cols = centres(w);
  // Rows of the first column pass that the last sampled row of the second needs.
  const nRows = Math.min(h, rows[DOWN - 1] + Math.floor((wc + 2) / 2));
  const line = new Float32Array(w);
  const a = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    lumaRow(rgb, 3 * i * w, w, line);
    boxRow(line, 0, w, wr, a, i * w);
  }
  const b = new Float32Array(nRows * w);
  boxCols(a, b, h, w, wc, nRows);
  const c = new Float32Array(nRows * DOWN);
  for (let i = 0; i < nRows; i++) boxRowAt(b, i * w, w, wr, cols, c, i * DOWN);
  const d = new Float32Array((rows[DOWN - 1] + 1) * DOWN);
  boxCols(c, d, h, DOWN, wc, rows[DOWN - 1] + 1);
  const out = new Float32Array(DOWN * DOWN);
  for (let i = 0; i < DOWN; i++) out.set(d.subarray(rows[i] * DOWN, rows[i] * DOWN + DOWN), i * DOWN);
  return out;
}

/** Compute `pdqImageDomainQualityMetric` on the 64x64 buffer. */
function quality(a) {
  let total = 0;
  for (let i = 0; i < DOWN - 1; i++) {
    for (let j = 0; j < DOWN; j++) {
      total += Math.abs(Math.trunc(f(f(f(a[i * DOWN + j] - a[(i + 1) * DOWN + j]) * 100) / 255)));
    }
  }
  for (let i = 0; i < DOWN; i++) {
    for (let j = 0; j < DOWN - 1; j++) {
      total += Math.abs(Math.trunc(f(f(f(a[i * DOWN + j] - a[i * DOWN + j + 1]) * 100) / 255)));
    }
  }
  return Math.min(Math.floor(total / 90), 100);
}

/** Compute `dct64To16`: B = (D A) D^T with float32 sums in increasing k. */
function dct64To16(a) {
  const d = DCT_MATRIX;
  const t = new Float32Array(DCT * DOWN);
  for (let i = 0; i < DCT; i++) {
    for (let k = 0; k < DOWN; k++) {
      const dik = d[i * DOWN + k];
      for (let j = 0; j < DOWN; j++) {
        t[i * DOWN + j] = t[i * DOWN + j] + f(dik * a[k * DOWN + j]);
      }
    }
  }
  const b = new Float32Array(DCT * DCT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DCT; j++) {
      let s = 0;
      for (let k = 0; k < DOWN; k++) s = f(s + f(t[i * DOWN + k] * d[j * DOWN + k]));
      b[i * DCT + j] = s;
    }
  }
  return b;
}

/** Pack bit `k` (set where `b[k]` exceeds the 128th smallest value) big-endian, bit 255 first. */
function bits(b) {
  const median = Float32Array.from(b).sort()[127];
  const out = new Uint8Array(32);
  for (let k = 0; k < 256; k++) {
    if (b[k] > median) out[31 - (k >> 3)] |= 1 << (k & 7);
  }
  return out;
}

/**
 * Hash interleaved RGB bytes (`h` rows of `w` pixels): `{hash: Uint8Array(32), quality}`.
 *
 * Images under 5 pixels on a side give zeros and quality 0; a 64x64 image is
 * used as is, as `pdqFloat256FromFloatLuma` does.
 */
export function pdqFromRgb(rgb, w, h) {
  if (Math.min(w, h) < MIN_HASHABLE_DIM) return { hash: new Uint8Array(32), quality: 0 };
  let a;
  if (h === DOWN && w === DOWN) {
    a = new Float32Array(DOWN * DOWN);
    for (let i = 0; i < DOWN; i++) lumaRow(rgb, 3 * i * DOWN, DOWN, a.subarray(i * DOWN, (i + 1) * DOWN));
  } else {
    a = downscale(rgb, h, w);
  }
  return { hash: bits(dct64To16(a)), quality: quality(a) };
}
