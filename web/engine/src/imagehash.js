/**
 * pHash, dHash and wHash as `hashing/fingerprint.py` computes them with the
 * `imagehash` package on Pillow images: grey by Pillow's `convert("L")`, a
 * box `reduce` to about 512 px, then Pillow's fixed-point LANCZOS resize,
 * scipy's DCT-II (pHash) and pywt's Haar transform (wHash).
 */

const COMPAT_SIDE = 512;
const PRECISION_BITS = 32 - 8 - 2;

/** Convert interleaved RGB to Pillow's "L": (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
export function toGrey(rgb, n) {
  const out = new Uint8Array(n);
  for (let p = 0, q = 0; p < n; p++, q += 3) {
    out[p] = (rgb[q] * 19595 + rgb[q + 1] * 38470 + rgb[q + 2] * 7471 + 0x8000) >> 16;
  }
  return out;
}

/** Reduce by `f` in both directions as Pillow's `Image.reduce` (fixed-point box mean). */
export function reduce(src, w, h, f) {
  const ow = Math.ceil(w / f);
  const oh = Math.ceil(h / f);
  const out = new Uint8Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    const y0 = y * f;
    const ys = Math.min(f, h - y0);
    for (let x = 0; x < ow; x++) {
      const x0 = x * f;
      const xs = Math.min(f, w - x0);
      const area = xs * ys;
      const multiplier = Math.floor(Math.fround(4294967296 / Math.fround(256 * area)));
      let ss = 0;
      for (let yy = y0; yy < y0 + ys; yy++) {
        for (let xx = x0; xx < x0 + xs; xx++) ss += src[yy * w + xx];
      }
      out[y * ow + x] = Math.floor(((ss + (area >> 1)) * multiplier) / 2 ** 24) & 255;
    }
  }
  return { data: out, width: ow, height: oh };
}

function sinc(x) {
  if (x === 0.0) return 1.0;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

function lanczos(x) {
  return x >= -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

/** Return Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis. */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = 3.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Int32Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      w[x] = lanczos((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { kk, bounds, ksize };
}

function clip8(v) {
  if (v >= 1 << PRECISION_BITS << 8) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

/** Resize an 8-bit grey image with Pillow's LANCZOS (`ImagingResampleInner`). */
export function resizeLanczos(src, w, h, ow, oh) {
  if (ow === w && oh === h) return Uint8Array.from(src);
  const H = coefficients(w, ow);
  const V = coefficients(h, oh);
  const needH = ow !== w;
  const needV = oh !== h;
  let cur = src;
  let rowsFirst = 0;
  let curW = w;
  if (needH) {
    const first = needV ? V.bounds[0] : 0;
    const last = needV ? V.bounds[2 * oh - 2] + V.bounds[2 * oh - 1] : h;
    const rows = last - first;
    const tmp = new Uint8Array(ow * rows);
    for (let y = 0; y < rows; y++) {
      const row = (y + first) * w;
      for (let x = 0; x < ow; x++) {
        const xmin = H.bounds[2 * x];
        const xmax = H.bounds[2 * x + 1];
        const k = x * H.ksize;
        let ss = 1 << (PRECISION_BITS - 1);
        for (let i = 0; i < xmax; i++) ss += src[row + xmin + i] * H.kk[k + i];
        tmp[y * ow + x] = clip8(ss);
      }
    }
    cur = tmp;
    rowsFirst = first;
    curW = ow;
  }
  if (!needV) return cur;
  const out = new Uint8Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    const ymin = V.bounds[2 * y] - rowsFirst;
    const ymax = V.bounds[2 * y + 1];
    const k = y * V.ksize;
    for (let x = 0; x < ow; x++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let i = 0; i < ymax; i++) ss += cur[(ymin + i) * curW + x] * V.kk[k + i];
      out[y * ow + x] = clip8(ss);
    }
  }
  return out;
}

/** Return numpy's median of a list of numbers (mean of the two middle values when even). */
function median(values) {
  const s = Float64Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Pack booleans row-major, most significant bit first, as `np.packbits`. */
function pack(flags) {
  const out = new Uint8Array(flags.length >> 3);
  flags.forEach((on, i) => { if (on) out[i >> 3] |= 0x80 >> (i & 7); });
  return out;
}

/** Apply scipy's unnormalised DCT-II along rows of a `rows` x `n` array (float64). */
function dctRows(a, rows, n) {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += a[r * n + i] * Math.cos((Math.PI * k * (2 * i + 1)) / (2 * n));
      out[r * n + k] = 2 * s;
    }
  }
  return out;
}

function transpose(a, n) {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}

/** Compute imagehash's `phash` (32x32 LANCZOS, 2-D DCT-II, 8x8 low block > median). */
export function phash(grey, w, h) {
  const px = Float64Array.from(resizeLanczos(grey, w, h, 32, 32));
  const cols = transpose(dctRows(transpose(px, 32), 32, 32), 32);
  const dct = dctRows(cols, 32, 32);
  const low = [];
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) low.push(dct[i * 32 + j]);
  const med = median(low);
  return pack(low.map((v) => v > med));
}

/** Compute imagehash's `dhash` (9x8 LANCZOS, each pixel greater than its left neighbour). */
export function dhash(grey, w, h) {
  const px = resizeLanczos(grey, w, h, 9, 8);
  const flags = [];
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) flags.push(px[y * 9 + x + 1] > px[y * 9 + x]);
  return pack(flags);
}

const R = 0.7071067811865476;

/** One Haar analysis step along axis 0 (`axis=0`) or 1 of a `h` x `w` array: [a, d]. */
function haarStep(x, h, w, axis) {
  const oh = axis === 0 ? h / 2 : h;
  const ow = axis === 0 ? w : w / 2;
  const a = new Float64Array(oh * ow);
  const d = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      const p = axis === 0 ? x[2 * i * w + j] : x[i * w + 2 * j];
      const q = axis === 0 ? x[(2 * i + 1) * w + j] : x[i * w + 2 * j + 1];
      a[i * ow + j] = R * q + R * p;
      d[i * ow + j] = R * q + -R * p;
    }
  }
  return [a, d];
}

/** One Haar synthesis step along `axis` from [a, d] of `h` x `w` into the doubled axis. */
function haarInverse(a, d, h, w, axis) {
  const oh = axis === 0 ? 2 * h : h;
  const ow = axis === 0 ? w : 2 * w;
  const x = new Float64Array(oh * ow);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const av = a[i * w + j];
      const dv = d[i * w + j];
      const p = axis === 0 ? 2 * i * ow + j : i * ow + 2 * j;
      const q = axis === 0 ? p + ow : p + 1;
      x[p] = R * av + -R * dv;
      x[q] = R * av + R * dv;
    }
  }
  return x;
}

/** pywt `dwt2`: `{ll, details: [da, ad, dd]}` of an `n` x `n` array (axis 0 first). */
function dwt2(x, n) {
  const [lo, hi] = haarStep(x, n, n, 0);
  const [aa, ad] = haarStep(lo, n / 2, n, 1);
  const [da, dd] = haarStep(hi, n / 2, n, 1);
  return { ll: aa, details: [da, ad, dd] };
}

/** pywt `idwt2`: invert {@link dwt2} (last axis first). */
function idwt2(ll, details, n) {
  const [da, ad, dd] = details;
  const lo = haarInverse(ll, ad, n, n, 1);
  const hi = haarInverse(da, dd, n, n, 1);
  return haarInverse(lo, hi, n, 2 * n, 0);
}

/** Compute imagehash's `whash` with image_scale 64: LL removed at level 6, LL(3) > median. */
export function whash(grey, w, h) {
  let px = Float64Array.from(resizeLanczos(grey, w, h, 64, 64), (v) => v / 255);
  const levels = [];
  let cur = px;
  for (let n = 64; n > 1; n /= 2) {
    const { ll, details } = dwt2(cur, n);
    levels.push(details);
    cur = ll;
  }
  cur = new Float64Array(1);
  for (let n = 1, l = levels.length - 1; l >= 0; n *= 2, l--) cur = idwt2(cur, levels[l], n);
  px = cur;
  for (let n = 64; n > 8; n /= 2) px = dwt2(px, n).ll;
  const med = median(px);
  return pack(Array.from(px, (v) => v > med));
}

/** Return the grey image the 64-bit hashes use: "L", then box-reduced to about 512 px. */
export function compatGrey(rgb, w, h) {
  const grey = toGrey(rgb, w * h);
  const factor = Math.max(1, Math.floor(Math.min(w, h) / COMPAT_SIDE));
  if (factor === 1) return { data: grey, width: w, height: h };
  return reduce(grey, w, h, factor);
}
