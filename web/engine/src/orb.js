/**
 * ORB local features as `hashing/robust/features.py` `extract()` computes them
 * with OpenCV: grey (`COLOR_RGB2GRAY`), `INTER_AREA` shrink to 512 px, an
 * 8-level pyramid (`INTER_LINEAR_EXACT`, scale 1.2), FAST-9 with non-maximum
 * suppression, Harris responses, intensity-centroid orientation, the
 * project's `spread` selection, a 7x7 Gaussian blur and rBRIEF descriptors;
 * positions quantised to the 128 grid and serialised as `orb-v1`.
 *
 * Written from OpenCV's algorithms (modules/features2d/src/orb.cpp, fast.cpp,
 * fast_score.cpp; imgproc resize and smooth): integer steps are exact, float
 * steps use float32 (`Math.fround`) in OpenCV's order.
 */

import { BIT_PATTERN_31 } from "./orb-pattern.js";

const f = Math.fround;
const WORK_SIDE = 512;
const MIN_SIDE = 40;
const DETECT = 5000;
const CAP = 256;
const CELLS = 8;
const GRID_BITS = 7;
const N_LEVELS = 8;
const SCALE_FACTOR = f(1.2); // cv2.ORB.create takes a float
const EDGE = 19;
const HALF_PATCH = 15;
const FAST_T = 8;
const BORDER = 23; // max(edgeThreshold, ceil(15 * sqrt 2), 9 / 2) + 1
const HARRIS_K = f(0.04);

/** Round half to even, as `cvRound` (lrint) and numpy's `rint` do. */
export function rint(x) {
  const fl = Math.floor(x);
  const d = x - fl;
  if (d > 0.5) return fl + 1;
  if (d < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** Python's `round` of a float: half to even. */
const pyRound = rint;

/** Convert interleaved RGB to OpenCV 5 8-bit grey: (9798 R + 19235 G + 3735 B + 16384) >> 15. */
export function cvGrey(rgb, n) {
  const out = new Uint8Array(n);
  for (let p = 0, q = 0; p < n; p++, q += 3) {
    out[p] = (rgb[q] * 9798 + rgb[q + 1] * 19235 + rgb[q + 2] * 3735 + 16384) >> 15;
  }
  return out;
}

const sat8 = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Return OpenCV's `computeResizeAreaTab` for one axis: {d, s, alpha} typed arrays. */
function areaTab(ssize, dsize, scale) {
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx2 = Math.min(Math.floor(fsx2), ssize - 1);
    const sx1 = Math.min(Math.ceil(fsx1), sx2);
    if (sx1 - fsx1 > 1e-3) tab.push({ d: dx, s: sx1 - 1, alpha: f((sx1 - fsx1) / cell) });
    for (let sx = sx1; sx < sx2; sx++) tab.push({ d: dx, s: sx, alpha: f(1.0 / cell) });
    if (fsx2 - sx2 > 1e-3) tab.push({ d: dx, s: sx2, alpha: f(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell) });
  }
  return {
    length: tab.length,
    d: Int32Array.from(tab, (t) => t.d),
    s: Int32Array.from(tab, (t) => t.s),
    alpha: Float32Array.from(tab, (t) => t.alpha),
  };
}

/** Shrink an 8-bit grey image with `cv2.resize(..., INTER_AREA)`. */
export function resizeArea(src, w, h, ow, oh) {
  const sx = 1 / (ow / w);
  const sy = 1 / (oh / h);
  const ix = Math.trunc(sx);
  const iy = Math.trunc(sy);
  const out = new Uint8Array(ow * oh);
  if (Math.abs(sx - ix) < Number.EPSILON && Math.abs(sy - iy) < Number.EPSILON) {
    const scale = f(1 / (ix * iy));
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        let sum = 0;
        for (let dy = 0; dy < iy; dy++) for (let dx = 0; dx < ix; dx++) sum += src[(y * iy + dy) * w + x * ix + dx];
        out[y * ow + x] = sat8(rint(f(sum * scale)));
      }
    }
    return out;
  }
  const xtab = areaTab(w, ow, sx);
  const ytab = areaTab(h, oh, sy);
  const buf = new Float32Array(ow);
  const sum = new Float32Array(ow);
  let prev = ytab.d[0];
  for (let j = 0; j < ytab.length; j++) {
    const dy = ytab.d[j];
    areaRow(src, ytab.s[j] * w, xtab, buf);
    if (dy !== prev) {
      areaFlush(sum, out, prev * ow);
      areaSet(sum, buf, ytab.alpha[j]);
      prev = dy;
    } else {
      areaAdd(sum, buf, ytab.alpha[j]);
    }
  }
  areaFlush(sum, out, prev * ow);
  return out;
}

/** Sum one source row into `buf` through the horizontal area table (float32). */
function areaRow(src, base, tab, buf) {
  const { d, s, alpha, length } = tab;
  buf.fill(0);
  for (let k = 0; k < length; k++) {
    const i = d[k];
    buf[i] = buf[i] + Math.fround(src[base + s[k]] * alpha[k]);
  }
}

function areaSet(sum, buf, beta) {
  for (let x = 0; x < sum.length; x++) sum[x] = beta * buf[x];
}

function areaAdd(sum, buf, beta) {
  for (let x = 0; x < sum.length; x++) sum[x] = sum[x] + Math.fround(beta * buf[x]);
}

function areaFlush(sum, out, at) {
  for (let x = 0; x < sum.length; x++) out[at + x] = sat8(rint(sum[x]));
}

/** Map an index outside [0, n) as `BORDER_REFLECT_101`. */
function reflect101(i, n) {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}

/** A pyramid level: inner `w` x `h`, stored with a reflect-101 border of BORDER pixels. */
function bordered(inner, w, h) {
  const stride = w + 2 * BORDER;
  const data = new Uint8Array(stride * (h + 2 * BORDER));
  const cols = new Int32Array(stride);
  for (let x = -BORDER; x < w + BORDER; x++) cols[x + BORDER] = reflect101(x, w);
  for (let y = -BORDER; y < h + BORDER; y++) {
    const sy = reflect101(y, h) * w;
    const row = (y + BORDER) * stride;
    data.set(inner.subarray(sy, sy + w), row + BORDER);
    for (let x = 0; x < BORDER; x++) {
      data[row + x] = inner[sy + cols[x]];
      data[row + BORDER + w + x] = inner[sy + cols[BORDER + w + x]];
    }
  }
  return { w, h, stride, data, origin: BORDER * stride + BORDER, inner };
}

/** Return the `INTER_LINEAR_EXACT` taps of one axis: offsets and 8.8 fixed-point weights. */
function linearTaps(ssize, dsize) {
  const scale = 1 / (dsize / ssize);
  const ofs = new Int32Array(dsize);
  const w1 = new Int32Array(dsize);
  let minOfs = 0;
  let maxOfs = dsize;
  for (let v = 0; v < dsize; v++) {
    const fv = scale * (v + 0.5) - 0.5;
    const iv = Math.floor(fv);
    if (iv >= 0 && ssize > 1) {
      if (iv < ssize - 1) {
        ofs[v] = iv;
        w1[v] = rint((fv - iv) * 256);
      } else {
        ofs[v] = ssize - 1;
        maxOfs = Math.min(maxOfs, v);
      }
    } else {
      minOfs = Math.max(minOfs, v + 1);
    }
  }
  return { ofs, w1, minOfs, maxOfs };
}

/** Resize with OpenCV's bit-exact `INTER_LINEAR_EXACT` (8.8 fixed point, then 16.16). */
export function resizeLinearExact(src, sw, sh, dw, dh) {
  const X = linearTaps(sw, dw);
  const Y = linearTaps(sh, dh);
  const rows = new Map();
  const hline = (sy) => {
    let line = rows.get(sy);
    if (line) return line;
    line = new Int32Array(dw);
    const r = sy * sw;
    const first = src[r] << 8;
    const last = src[r + X.ofs[dw - 1]] << 8;
    for (let x = 0; x < dw; x++) {
      if (x < X.minOfs) line[x] = first;
      else if (x < X.maxOfs) line[x] = (256 - X.w1[x]) * src[r + X.ofs[x]] + X.w1[x] * src[r + X.ofs[x] + 1];
      else line[x] = last;
    }
    rows.set(sy, line);
    return line;
  };
  const out = new Uint8Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const o = y * dw;
    if (y < Y.minOfs || y >= Y.maxOfs) {
      const line = hline(y < Y.minOfs ? 0 : Y.ofs[dh - 1]);
      for (let x = 0; x < dw; x++) out[o + x] = sat8((line[x] + 128) >> 8);
      continue;
    }
    const a = hline(Y.ofs[y]);
    const b = hline(Y.ofs[y] + 1);
    const m1 = Y.w1[y];
    const m0 = 256 - m1;
    for (let x = 0; x < dw; x++) out[o + x] = sat8(Math.floor((a[x] * m0 + b[x] * m1 + 32768) / 65536));
  }
  return out;
}

/** Build the ORB pyramid of an 8-bit grey image: levels, each from the previous one. */
function pyramid(grey, w, h, nLevels) {
  const levels = [];
  let prev = grey;
  let pw = w;
  let ph = h;
  for (let l = 0; l < nLevels; l++) {
    const scale = f(Math.pow(SCALE_FACTOR, l));
    const lw = rint(f(w / scale));
    const lh = rint(f(h / scale));
    const inner = l === 0 ? grey : resizeLinearExact(prev, pw, ph, lw, lh);
    levels.push({ ...bordered(inner, lw, lh), scale });
    prev = inner;
    pw = lw;
    ph = lh;
  }
  return levels;
}

/** Offsets of the 16-pixel Bresenham circle of radius 3, as FAST's `makeOffsets`. */
function circle(stride) {
  const xy = [[0, 3], [1, 3], [2, 2], [3, 1], [3, 0], [3, -1], [2, -2], [1, -3],
    [0, -3], [-1, -3], [-2, -2], [-3, -1], [-3, 0], [-3, 1], [-2, 2], [-1, 3]];
  const px = xy.map(([x, y]) => x + y * stride);
  return px.concat(px.slice(0, 9));
}

const diffs = new Int32Array(25);

/** FAST-9 score (`cornerScore<16>`): the largest threshold at which the point stays a corner. */
function cornerScore(data, p, px) {
  const v = data[p];
  const d = diffs;
  for (let k = 0; k < 25; k++) d[k] = v - data[p + px[k]];
  let best = -1000;
  for (let k = 0; k < 16; k++) {
    let lo = d[k];
    let hi = d[k];
    for (let i = 1; i < 9; i++) {
      const x = d[k + i];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    if (lo > best) best = lo;
    if (-hi > best) best = -hi;
  }
  return best - 1;
}

/** Test for more than 8 contiguous circle pixels darker (`bright` false) or brighter than `v` by more than t. */
function isCorner(data, p, px, bright) {
  const v = data[p];
  let count = 0;
  for (let k = 0; k < 25; k++) {
    const x = data[p + px[k]];
    if (bright ? x > v + FAST_T : x < v - FAST_T) {
      if (++count > 8) return true;
    } else count = 0;
  }
  return false;
}

/** 1 where `x` is darker than `v - t`, 2 where brighter than `v + t`, else 0. */
const side = (x, v) => (x < v - FAST_T ? 1 : x > v + FAST_T ? 2 : 0);

/**
 * Detect FAST-9 corners with non-maximum suppression on one level: [{x, y, response}].
 * OpenCV's opposite-pairs pre-test rejects most pixels before the full test.
 */
function fast(level) {
  const { w, h, stride, data, origin } = level;
  const px = circle(stride);
  const score = new Uint8Array(w * h);
  const corners = [];
  for (let y = 3; y < h - 3; y++) {
    for (let x = 3; x < w - 3; x++) {
      const p = origin + y * stride + x;
      const v = data[p];
      let d = side(data[p + px[0]], v) | side(data[p + px[8]], v);
      if (d === 0) continue;
      d &= side(data[p + px[2]], v) | side(data[p + px[10]], v);
      d &= side(data[p + px[4]], v) | side(data[p + px[12]], v);
      d &= side(data[p + px[6]], v) | side(data[p + px[14]], v);
      if (d === 0) continue;
      d &= side(data[p + px[1]], v) | side(data[p + px[9]], v);
      d &= side(data[p + px[3]], v) | side(data[p + px[11]], v);
      d &= side(data[p + px[5]], v) | side(data[p + px[13]], v);
      d &= side(data[p + px[7]], v) | side(data[p + px[15]], v);
      if (((d & 1) && isCorner(data, p, px, false)) || ((d & 2) && isCorner(data, p, px, true))) {
        score[y * w + x] = cornerScore(data, p, px);
        corners.push(y * w + x);
      }
    }
  }
  const out = [];
  for (const i of corners) {
    const s = score[i];
    if (s > score[i - 1] && s > score[i + 1] && s > score[i - w - 1] && s > score[i - w] &&
      s > score[i - w + 1] && s > score[i + w - 1] && s > score[i + w] && s > score[i + w + 1]) {
      out.push({ x: i % w, y: Math.floor(i / w), response: s });
    }
  }
  return out;
}

/** `KeyPointsFilter::retainBest`: keep the `n` strongest, and every tie of the n-th. */
function retainBest(kps, n) {
  if (kps.length <= n) return kps;
  if (n === 0) return [];
  const sorted = kps.map((k) => k.response).sort((a, b) => b - a);
  const floor = sorted[n - 1];
  return kps.filter((k) => k.response >= floor);
}

/** Harris response over a 7x7 block (`HarrisResponses`), float32 as OpenCV. */
function harris(level, x, y) {
  const { stride: s, data, origin } = level;
  const scale = f(1 / f(4 * 7 * 255));
  const ssq = f(f(f(scale * scale) * scale) * scale);
  let a = 0;
  let b = 0;
  let c = 0;
  for (let i = -3; i <= 3; i++) {
    for (let j = -3; j <= 3; j++) {
      const p = origin + (y + i) * s + x + j;
      const ix = (data[p + 1] - data[p - 1]) * 2 + (data[p - s + 1] - data[p - s - 1]) + (data[p + s + 1] - data[p + s - 1]);
      const iy = (data[p + s] - data[p - s]) * 2 + (data[p + s - 1] - data[p - s - 1]) + (data[p + s + 1] - data[p - s + 1]);
      a += ix * ix;
      b += iy * iy;
      c += ix * iy;
    }
  }
  const fa = f(a);
  const fb = f(b);
  const fc = f(c);
  const t = f(fa + fb);
  return f(f(f(f(fa * fb) - f(fc * fc)) - f(f(HARRIS_K * t) * t)) * ssq);
}

/** The end of each row of the circular 31x31 patch (`umax`). */
function patchRows() {
  const umax = new Int32Array(HALF_PATCH + 2);
  const vmax = Math.floor(f(f(HALF_PATCH * f(Math.SQRT2)) / 2) + 1);
  const vmin = Math.ceil(f(f(HALF_PATCH * f(Math.SQRT2)) / 2));
  for (let v = 0; v <= vmax; v++) umax[v] = rint(Math.sqrt(HALF_PATCH * HALF_PATCH - v * v));
  for (let v = HALF_PATCH, v0 = 0; v >= vmin; v--) {
    while (umax[v0] === umax[v0 + 1]) v0++;
    umax[v] = v0;
    v0++;
  }
  return umax;
}

const UMAX = patchRows();
const P1 = f(f(0.9997878412794807) * f(180 / Math.PI));
const P3 = f(f(-0.3258083974640975) * f(180 / Math.PI));
const P5 = f(f(0.1555786518463281) * f(180 / Math.PI));
const P7 = f(f(-0.04432655554792128) * f(180 / Math.PI));
const EPS = f(2.220446049250313e-16);

/** OpenCV's `fastAtan2` in degrees, float32. */
export function fastAtan2(y, x) {
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  let a;
  const poly = (c) => {
    const c2 = f(c * c);
    return f(f(f(f(f(f(f(P7 * c2) + P5) * c2) + P3) * c2) + P1) * c);
  };
  if (ax >= ay) a = poly(f(ay / f(ax + EPS)));
  else a = f(90 - poly(f(ax / f(ay + EPS))));
  if (x < 0) a = f(180 - a);
  if (y < 0) a = f(360 - a);
  return a;
}

/** Orientation by intensity centroid (`ICAngles`), in degrees. */
function angle(level, x, y) {
  const { stride: s, data, origin } = level;
  const c = origin + y * s + x;
  let m01 = 0;
  let m10 = 0;
  for (let u = -HALF_PATCH; u <= HALF_PATCH; u++) m10 += u * data[c + u];
  for (let v = 1; v <= HALF_PATCH; v++) {
    let vSum = 0;
    const d = UMAX[v];
    for (let u = -d; u <= d; u++) {
      const plus = data[c + u + v * s];
      const minus = data[c + u - v * s];
      vSum += plus - minus;
      m10 += u * (plus + minus);
    }
    m01 += v * vSum;
  }
  return fastAtan2(f(m01), f(m10));
}

/** Split `DETECT` features over the levels as `computeKeyPoints` does. */
function featuresPerLevel() {
  const factor = f(1.0 / SCALE_FACTOR);
  let desired = f(f(DETECT * f(1 - factor)) / f(1 - f(Math.pow(factor, N_LEVELS))));
  const out = [];
  let sum = 0;
  for (let l = 0; l < N_LEVELS - 1; l++) {
    out.push(rint(desired));
    sum += out[l];
    desired = f(desired * factor);
  }
  out.push(Math.max(DETECT - sum, 0));
  return out;
}

/** Detect the ORB keypoints of an 8-bit grey image (for comparisons with OpenCV's). */
export function keypointsOf(grey, w, h) {
  return detect(pyramid(grey, w, h, N_LEVELS));
}

/** Detect ORB keypoints: [{x, y (full-resolution float32), response, angle, level}]. */
function detect(levels) {
  const perLevel = featuresPerLevel();
  const all = [];
  levels.forEach((level, l) => {
    let kps = fast(level).filter((k) => k.x >= EDGE && k.x < level.w - EDGE && k.y >= EDGE && k.y < level.h - EDGE);
    if (level.w <= 2 * EDGE || level.h <= 2 * EDGE) kps = [];
    kps = retainBest(kps, 2 * perLevel[l]);
    for (const k of kps) k.response = harris(level, k.x, k.y);
    kps = retainBest(kps, perLevel[l]);
    for (const k of kps) {
      k.angle = angle(level, k.x, k.y);
      k.level = l;
      k.lx = k.x;
      k.ly = k.y;
      k.x = f(k.x * level.scale);
      k.y = f(k.y * level.scale);
      all.push(k);
    }
  });
  return all;
}

/** Pick up to `cap` keypoints: strongest first within each 8x8 cell, cells in turn (`spread`). */
export function spread(kps, w, h, cap) {
  const byResponse = (a, b) => kps[b].response - kps[a].response || a - b;
  const idx = kps.map((_, i) => i);
  if (kps.length <= cap) return idx.sort(byResponse);
  const cell = kps.map((k) => {
    const cx = Math.min(Math.trunc(f(f(k.x * CELLS) / Math.max(w, 1))), CELLS - 1);
    const cy = Math.min(Math.trunc(f(f(k.y * CELLS) / Math.max(h, 1))), CELLS - 1);
    return cy * CELLS + cx;
  });
  const order = idx.sort((a, b) => cell[a] - cell[b] || byResponse(a, b));
  const rank = new Int32Array(order.length);
  for (let i = 0; i < order.length; i++) {
    rank[i] = i > 0 && cell[order[i]] === cell[order[i - 1]] ? rank[i - 1] + 1 : 0;
  }
  const pos = order.map((_, i) => i);
  pos.sort((a, b) => rank[a] - rank[b] || kps[order[b]].response - kps[order[a]].response || a - b);
  return pos.slice(0, cap).map((i) => order[i]);
}

/**
 * OpenCV's Gaussian kernel for 7 taps, sigma 2, as float32 (`getGaussianKernel`):
 * centre first, then the taps at distance 1, 2, 3.
 */
function gaussKernel() {
  const scale2 = -0.125 / (2 * 2);
  const values = [];
  let sum = 0;
  for (let i = 0, x = -6; i < 3; i++, x += 2) {
    values.push(Math.exp(x * x * scale2));
    sum += values[i];
  }
  sum = sum * 2 + 1;
  const mul = 1 / sum;
  return [f(mul), f(values[2] * mul), f(values[1] * mul), f(values[0] * mul)];
}

const GAUSS = gaussKernel();

/**
 * Blur a level's inner image in place with `GaussianBlur(7x7, 2)` as ORB gets
 * it: on a sub-matrix with a non-isolated border OpenCV takes the float
 * separable path (symmetric row then column sums in float32, rounded half to
 * even), reading the level's border pixels; the border itself stays as is.
 */
function blur(level) {
  const { w, h, stride, data, origin } = level;
  const [k0, k1, k2, k3] = GAUSS;
  const rows = new Float32Array((h + 6) * w);
  for (let y = -3; y < h + 3; y++) {
    const r = origin + y * stride;
    const o = (y + 3) * w;
    for (let x = 0; x < w; x++) {
      const p = r + x;
      let v = f(k0 * data[p]);
      v = f(v + f(k1 * (data[p - 1] + data[p + 1])));
      v = f(v + f(k2 * (data[p - 2] + data[p + 2])));
      rows[o + x] = f(v + f(k3 * (data[p - 3] + data[p + 3])));
    }
  }
  for (let y = 0; y < h; y++) {
    const c = (y + 3) * w;
    for (let x = 0; x < w; x++) {
      const i = c + x;
      let v = f(k0 * rows[i]);
      v = f(v + f(k1 * f(rows[i - w] + rows[i + w])));
      v = f(v + f(k2 * f(rows[i - 2 * w] + rows[i + 2 * w])));
      v = f(v + f(k3 * f(rows[i - 3 * w] + rows[i + 3 * w])));
      data[origin + y * stride + x] = sat8(rint(v));
    }
  }
}

/** Compute the 32-byte rBRIEF descriptor of a keypoint on its blurred level. */
function describe(level, kp, out, at) {
  const { stride: s, data, origin } = level;
  const ang = f(kp.angle * f(Math.PI / 180));
  const a = f(Math.cos(ang));
  const b = f(Math.sin(ang));
  const inv = f(1 / level.scale);
  const c = origin + rint(f(kp.y * inv)) * s + rint(f(kp.x * inv));
  const value = (i) => {
    const px = BIT_PATTERN_31[2 * i];
    const py = BIT_PATTERN_31[2 * i + 1];
    const x = f(f(px * a) - f(py * b));
    const y = f(f(px * b) + f(py * a));
    return data[c + rint(y) * s + rint(x)];
  };
  for (let i = 0; i < 32; i++) {
    let v = 0;
    for (let bit = 0; bit < 8; bit++) {
      const p = 16 * i + 2 * bit;
      if (value(p) < value(p + 1)) v |= 1 << bit;
    }
    out[at + i] = v;
  }
}

/** Serialise to the `orb-v1` layout: header, descriptors, grid positions. */
function wire(desc, points, n, wq, hq) {
  const out = new Uint8Array(8 + 34 * n);
  out[0] = 0x45; // "E"
  out[1] = 0x4f; // "O"
  out[2] = 1;
  out[3] = GRID_BITS;
  out[4] = n & 255;
  out[5] = n >> 8;
  out[6] = wq;
  out[7] = hq;
  out.set(desc.subarray(0, 32 * n), 8);
  out.set(points.subarray(0, 2 * n), 8 + 32 * n);
  return out;
}

/**
 * Compute the capped local features of upright RGB pixels: `{bytes, count}`,
 * `bytes` the `orb-v1` serialisation (base64 it for the record).
 */
export function orbFeatures(rgb, width, height) {
  let grey = cvGrey(rgb, width * height);
  let w = width;
  let h = height;
  const fct = Math.min(1.0, WORK_SIDE / Math.max(h, w));
  if (fct < 1.0) {
    const ow = Math.max(1, pyRound(w * fct));
    const oh = Math.max(1, pyRound(h * fct));
    grey = resizeArea(grey, w, h, ow, oh);
    w = ow;
    h = oh;
  }
  const grid = 1 << GRID_BITS;
  const unit = (grid - 1) / Math.max(h, w);
  const wq = pyRound((w - 1) * unit);
  const hq = pyRound((h - 1) * unit);
  if (Math.min(w, h) < MIN_SIDE) return { bytes: wire(new Uint8Array(0), new Uint8Array(0), 0, wq, hq), count: 0 };
  let levels = pyramid(grey, w, h, N_LEVELS);
  const kps = detect(levels);
  const chosen = spread(kps, w, h, CAP).map((i) => kps[i]);
  const maxLevel = chosen.reduce((m, k) => Math.max(m, k.level), -1);
  levels = levels.slice(0, maxLevel + 1);
  for (const level of levels) blur(level);
  const ordered = [];
  for (let l = 0; l <= maxLevel; l++) for (const k of chosen) if (k.level === l) ordered.push(k);
  const n = ordered.length;
  const desc = new Uint8Array(32 * n);
  const points = new Uint8Array(2 * n);
  const funit = f(unit);
  ordered.forEach((k, i) => {
    describe(levels[k.level], k, desc, 32 * i);
    points[2 * i] = Math.min(Math.max(rint(f(k.x * funit)), 0), grid - 1);
    points[2 * i + 1] = Math.min(Math.max(rint(f(k.y * funit)), 0), grid - 1);
  });
  return { bytes: wire(desc, points, n, wq, hq), count: n };
}

/** Return the blurred inner image of pyramid level 0 (for comparisons with OpenCV's). */
export function blurredBase(grey, w, h) {
  const [level] = pyramid(grey, w, h, 1);
  blur(level);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) out.set(level.data.subarray(level.origin + y * level.stride, level.origin + y * level.stride + w), y * w);
  return out;
}
