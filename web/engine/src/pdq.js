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
function luma(rgb, n) {
  const out = new Float32Array(n);
  for (let p = 0, q = 0; p < n; p++, q += 3) {
    out[p] = rgb[q] * 0.299 + rgb[q + 1] * 0.587 + rgb[q + 2] * 0.114;
  }
  return out;
}

/** Return `computeJaroszFilterWindowSize(n, 64)`, i.e. ceil(n / 128). */
function windowSize(n) {
  return Math.floor((n + 2 * DOWN - 1) / (2 * DOWN));
}

/** Run `box1DFloat` along every row of `src` (h x w) into `dst`. */
function boxRows(src, dst, h, w, win) {
  const half = Math.floor((win + 2) / 2);
  const p1 = half - 1;
  const p2 = win - half + 1;
  const p3 = w - win;
  const p4 = half - 1;
  for (let r = 0; r < h; r++) {
    const base = r * w;
    let li = base;
    let ri = base;
    let oi = base;
    let sum = 0;
    let cws = 0;
    for (let k = 0; k < p1; k++) { sum = f(sum + src[ri++]); cws++; }
    for (let k = 0; k < p2; k++) { sum = f(sum + src[ri++]); cws++; dst[oi++] = sum / cws; }
    for (let k = 0; k < p3; k++) {
      sum = f(sum + src[ri++]);
      sum = f(sum - src[li++]);
      dst[oi++] = sum / cws;
    }
    for (let k = 0; k < p4; k++) { sum = f(sum - src[li++]); cws--; dst[oi++] = sum / cws; }
  }
}

/**
 * Run `box1DFloat` down every column of `src` (h x w) into `dst`.
 *
 * A row-major sweep holding one running sum per column: per column, the same
 * float32 operations in the same order as the reference's column walk.
 */
function boxCols(src, dst, h, w, win) {
  const half = Math.floor((win + 2) / 2);
  const p1 = half - 1;
  const p2 = win - half + 1;
  const p3 = h - win;
  const sums = new Float32Array(w);
  let ri = 0;
  let li = 0;
  let oi = 0;
  let cws = 0;
  for (let step = 0; step < p1 + h; step++) {
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

/** Filter the luma with `jaroszFilterFloat` (2 rounds) and decimate it to 64x64. */
function downscale(y, h, w) {
  const wr = windowSize(w);
  const wc = windowSize(h);
  let a = y;
  let b = new Float32Array(h * w);
  for (let round = 0; round < 2; round++) {
    boxRows(a, b, h, w, wr);
    boxCols(b, a, h, w, wc);
  }
  const rows = centres(h);
  const cols = centres(w);
  const out = new Float32Array(DOWN * DOWN);
  for (let i = 0; i < DOWN; i++) {
    for (let j = 0; j < DOWN; j++) out[i * DOWN + j] = a[rows[i] * w + cols[j]];
  }
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
  const y = luma(rgb, w * h);
  const a = h === DOWN && w === DOWN ? y : downscale(y, h, w);
  return { hash: bits(dct64To16(a)), quality: quality(a) };
}
