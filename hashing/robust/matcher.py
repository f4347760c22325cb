"""Query side of re-post matching, pure: pixels in, features and verified evidence out.

* :func:`query_features` - ORB features of a query image (photo texture favoured over UI);
* :func:`verify` - fit the affine map from a query to one registered image by RANSAC and
  say how many feature matches agree, and where the registered image sits (the box);
* :func:`orb_confidence` - the score in [0, 1] of a verified match;
* :func:`check_query` - refuse arrays that cannot be a re-posted photo.

The registry side (candidates among all registered images) is
:class:`empreinte.index.robust.RobustMatcher`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import cv2
import numpy as np

from empreinte.hashing.robust.features import LocalFeatures, describe, orb_keypoints, to_gray
from empreinte.hashing.robust.hamming import two_nearest
from empreinte.hashing.robust.regions import Box, photo_blocks
from empreinte.hashing.signals import SignalType

QUERY_FEATURES: Final = 1500
QUERY_MAX_AREA: Final = 1_000_000
DETECT_FACTOR: Final = 6
"""ORB keeps the strongest corners image-wide, and UI text has the strongest; detecting 6x the
budget leaves photo corners for :func:`spread` to pick."""
ZOOM_BELOW: Final = 360
"""A photo block whose longer side is under this in the whole view's pixels gets a view of
its own, enlarged towards :data:`ZOOM_SIDE` (registered features are taken at 512 px)."""
ZOOM_SIDE: Final = 640
ZOOM_MAX: Final = 4.0
ZOOM_VIEWS: Final = 3
ZOOM_FEATURES: Final = 600
NATIVE_ABOVE: Final = 1.3
"""A query enlarged more than this also gets a view at its own scale: a crop of a photo
registered at its own size matches best unscaled."""
NATIVE_FEATURES: Final = 800
GRID_SIDE: Final = 450
"""A squarish photo block at least this big in the whole view is also looked at cell by
cell (3 x 3), in case it is a grid of thumbnails."""
GRID_FEATURES: Final = 400
GRID_CANDIDATES: Final = 2
FLAT_RANGE: Final = 2
FLAT_WINDOW: Final = 25
FLAT_SHARE: Final = 0.35
LOOKUPS: Final = 1500
"""Query features looked up in the index to pick candidates (all are used to verify)."""
CANDIDATES: Final = 8
MATCH_DISTANCE: Final = 72
RATIO: Final = 0.9
RANSAC_GRID_UNITS: Final = 2.5
MIN_INLIERS: Final = SignalType.ORB.spec.radius
"""Fewer geometric inliers than this is never reported (see :func:`orb_confidence`)."""
CIRCLE_CHECK_BELOW: Final = 30
"""Matches with fewer inliers are refused when the inliers lie along one circle."""
CIRCLE_RESIDUAL: Final = 0.07
"""Inliers lie along one circle when their median distance to it is under this share of
its radius (see :func:`on_one_circle`)."""
MAX_QUERY_PIXELS: Final = 60_000_000
MAX_ASPECT: Final = 40.0
MIN_QUERY_SIDE: Final = 16


@dataclass(frozen=True, slots=True)
class Match:
    """One registered image found in a query, and the evidence for it."""

    key: str
    """The registered entry found: the live index keys entries by their ``orb`` hash id."""
    signal: Literal["orb"]
    confidence: float
    box: Box
    """Where the registered image sits in the query: x, y, width, height in query pixels."""
    inliers: int
    """Geometrically consistent feature matches."""
    detail: str = ""
    """Human-readable: the fitted scale and angle."""


@dataclass(frozen=True, slots=True)
class QueryFeatures:
    """ORB features of one view of a query, in the pixels of the query as given.

    The first view is the query itself; ``views`` holds the others (the query seen in a
    mirror, zoomed-in photo blocks), each matched on its own: features of one place seen
    twice would fail each other's ratio test.
    """

    points: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray  # (n, 32) uint8
    mirrored: bool = False
    """Descriptors of the mirrored query (points still in query pixels): its map onto a
    registered image is a reflection."""
    candidates: int = CANDIDATES
    """Registered images this view's votes may propose for verification."""
    views: tuple[QueryFeatures, ...] = ()

    def all_views(self) -> list[QueryFeatures]:
        """This view and the others, in order."""
        return [self, *self.views]


def orb_confidence(inliers: int) -> float:
    """Confidence of an ORB match with ``inliers`` RANSAC inliers: the ORB spec's curve.

    Calibrated on the benchmark's unrelated queries (see ``benchmarks/robustness``):
    chance verification gives few inliers, so the curve is 0.5 at
    :data:`MIN_INLIERS` and rises to about 0.95 at twice that.
    """
    return SignalType.ORB.spec.confidence(inliers)


def prepare_gray(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """Gray query scaled to about 1 MP (enlarged at most 2x): a photo inside a small
    screenshot then reaches the scale the registered features were taken at."""
    gray = to_gray(rgb)
    h, w = gray.shape
    f = min(2.0, math.sqrt(QUERY_MAX_AREA / (h * w)))
    if abs(f - 1.0) < 0.02:
        return gray, 1.0
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_AREA if f < 0.5 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(gray, size, interpolation=interp)), f


def photo_likeness(gray: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Weight 1 for keypoints amid photographic texture, 0.01 amid flat UI (text, icons).

    Text on a flat bubble or page has the strongest corners of a screenshot; a
    keypoint whose neighbourhood is mostly flat (3x3 range of at most
    :data:`FLAT_RANGE` grey levels) is most likely UI. The flat share is read off
    an integral image at the keypoints only.
    """
    if len(points) == 0:
        return np.ones(0, np.float32)
    kernel = np.ones((3, 3), np.uint8)
    spread_ = cv2.dilate(gray, kernel) - cv2.erode(gray, kernel)
    flat = (spread_ <= FLAT_RANGE).astype(np.uint8)
    table = cv2.integral(flat)
    h, w = gray.shape
    r = FLAT_WINDOW // 2
    xs = np.clip(points[:, 0].astype(np.int64), 0, w - 1)
    ys = np.clip(points[:, 1].astype(np.int64), 0, h - 1)
    x0, x1 = np.maximum(xs - r, 0), np.minimum(xs + r + 1, w)
    y0, y1 = np.maximum(ys - r, 0), np.minimum(ys + r + 1, h)
    count = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    share = count / ((x1 - x0) * (y1 - y0))
    return np.where(share > FLAT_SHARE, 0.01, 1.0).astype(np.float32)


def query_features(rgb: np.ndarray, cap: int = QUERY_FEATURES) -> QueryFeatures:
    """ORB features of the whole query and of its mirror image, in query pixels.

    ORB is not mirror-invariant, and front cameras save selfies mirrored: the mirrored
    view reuses the keypoints (FAST corners and their orientation mirror exactly) and
    only describes them again on the flipped image.

    Region-local passes (extra features for each proposed photo block, in one set with
    the whole image's) were measured and dropped: feed +1, chat -5, crop 60 -8 points of
    recall, twice as slow (``benchmarks/robustness/README.md``, note 5).
    """
    gray, f = prepare_gray(rgb)
    keypoints = orb_keypoints(gray, cap * DETECT_FACTOR, cap, 10, photo_likeness)
    pts, desc = describe(gray, keypoints)
    mpts, mdesc = describe_mirrored(gray, keypoints)
    mirror = QueryFeatures(_points(mpts / f), np.ascontiguousarray(mdesc), mirrored=True)
    views = [mirror]
    if f > NATIVE_ABOVE:
        views.append(_zoomed(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), 1.0, NATIVE_FEATURES))
    blocks = photo_blocks(rgb)
    for box in zoom_boxes(blocks, f, rgb.shape[0] * rgb.shape[1]):
        views.append(_zoomed(rgb, box, min(ZOOM_MAX, ZOOM_SIDE / max(box[2:])), ZOOM_FEATURES))
    for box in grid_cells(rgb, f, blocks):
        scale = max(f, min(ZOOM_MAX, ZOOM_BELOW / max(box[2:])))
        views.append(_zoomed(rgb, box, scale, GRID_FEATURES, GRID_CANDIDATES))
    return QueryFeatures(_points(pts / f), np.ascontiguousarray(desc), views=tuple(views))


def grid_cells(rgb: np.ndarray, f: float, blocks: Sequence[Box]) -> list[Box]:
    """The 3 x 3 cells of the first squarish, big block among the whole image and the
    photo ``blocks`` (a grid of thumbnails has the strongest corners of one cell compete
    with those of eight others)."""
    h, w = rgb.shape[:2]
    for x, y, bw, bh in [(0, 0, w, h), *blocks[:2]]:
        if 0.8 <= bw / bh <= 1.25 and min(bw, bh) * f >= GRID_SIDE:
            cw, ch = bw // 3, bh // 3
            return [(x + i * cw, y + j * ch, cw, ch) for j in range(3) for i in range(3)]
    return []


def zoom_boxes(blocks: Sequence[Box], f: float, area: int) -> list[Box]:
    """Photo blocks too small in the whole view (at scale ``f``) to meet the registered
    scale, largest first, at most :data:`ZOOM_VIEWS`, none inside another; none at all
    when the blocks cover most of the image's ``area`` (a photo, not a page)."""
    out: list[Box] = []
    tops = [b for i, b in enumerate(blocks) if not any(_inside(b, o) for o in blocks[:i])]
    if sum(b[2] * b[3] for b in tops) > 0.5 * area:
        return out
    for box in blocks:
        if max(box[2], box[3]) * f >= ZOOM_BELOW or any(_inside(box, b) for b in out):
            continue
        out.append(box)
        if len(out) == ZOOM_VIEWS:
            break
    return out


def _inside(a: Box, b: Box) -> bool:
    """True when box ``a`` lies mostly inside box ``b``."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy > 0.7 * a[2] * a[3]


def _zoomed(
    rgb: np.ndarray, box: Box, scale: float, features: int, candidates: int = CANDIDATES
) -> QueryFeatures:
    """Features of one block of the query at ``scale``, in query pixels."""
    x, y, w, h = box
    crop = to_gray(rgb[y : y + h, x : x + w])
    if abs(scale - 1.0) > 0.02:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = np.asarray(cv2.resize(crop, size, interpolation=interp))
    keypoints = orb_keypoints(crop, features * 3, features, 10, photo_likeness)
    pts, desc = describe(crop, keypoints)
    offset = np.array([x, y], np.float32)
    return QueryFeatures(_points(pts / scale + offset), desc, candidates=candidates)


def _points(pts: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(pts, dtype=np.float32)


def describe_mirrored(
    gray: np.ndarray, keypoints: Sequence[cv2.KeyPoint]
) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of ``keypoints`` seen in a mirror, with their points in ``gray`` pixels.

    A keypoint at x with angle a is at (w - 1 - x) with angle 180 - a in the flipped image
    (ORB's intensity-centroid angle mirrors so).
    """
    w = gray.shape[1]
    flipped = [
        cv2.KeyPoint(
            w - 1 - k.pt[0], k.pt[1], k.size, (180.0 - k.angle) % 360.0, k.response, k.octave
        )
        for k in keypoints
    ]
    pts, desc = describe(np.ascontiguousarray(gray[:, ::-1]), flipped)
    if len(pts):
        pts[:, 0] = w - 1 - pts[:, 0]
    return pts, desc


def check_query(rgb: np.ndarray) -> None:
    """Refuse arrays that cannot be a re-posted photo (ValueError with the reason)."""
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or rgb.shape[2] != 3
    ):
        raise ValueError("query must be an HxWx3 uint8 array")
    h, w = rgb.shape[:2]
    if h * w > MAX_QUERY_PIXELS:
        raise ValueError(f"query of {w}x{h} is over {MAX_QUERY_PIXELS} pixels")
    if max(h, w) / max(1, min(h, w)) > MAX_ASPECT:
        raise ValueError(f"query of {w}x{h} is too elongated (aspect over {MAX_ASPECT:g})")


def correspondences(qf: QueryFeatures, feats: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one (query index, registered index) pairs passing distance and ratio tests."""
    dist, idx = two_nearest(feats.descriptors, qf.descriptors)
    d0, d1 = dist[:, 0].astype(np.float64), dist[:, 1].astype(np.float64)
    ok = (idx[:, 0] >= 0) & (d0 <= MATCH_DISTANCE) & ((idx[:, 1] < 0) | (d0 <= RATIO * d1))
    reg = np.nonzero(ok)[0]
    qry = idx[reg, 0]
    order = np.lexsort((d0[reg], qry))  # best registered point per query point
    qry, reg = qry[order], reg[order]
    first = np.ones(len(qry), bool)
    first[1:] = qry[1:] != qry[:-1]
    return qry[first], reg[first]


def verify(
    qf: QueryFeatures, feats: LocalFeatures, shape: tuple[int, int], min_inliers: int = MIN_INLIERS
) -> tuple[int, Box, str] | None:
    """Fit query -> registered affine map by RANSAC; return (inliers, box, detail) or None."""
    src, dst = correspondences(qf, feats)
    if len(src) < min_inliers:
        return None
    qpts = qf.points[src].astype(np.float32)
    rpts = feats.points[dst].astype(np.float32)
    model, mask = cv2.estimateAffine2D(
        qpts,
        rpts,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_GRID_UNITS,
        maxIters=2000,
        confidence=0.995,
    )
    if model is None or mask is None:
        return None
    inliers = int(mask.sum())
    if inliers < min_inliers:
        return None
    a = model[:, :2]
    det = float(np.linalg.det(a))
    if det == 0 or (det < 0) != qf.mirrored:  # a mirror image only through the mirrored view
        return None
    s = np.linalg.svd(a, compute_uv=False)
    if s[0] / max(s[1], 1e-9) > 2.5:
        return None
    inl = mask.ravel().astype(bool)
    spread_x = np.ptp(rpts[inl, 0])
    spread_y = np.ptp(rpts[inl, 1])
    if spread_x < feats.grid * 0.06 or spread_y < feats.grid * 0.06:
        return None
    if inliers < CIRCLE_CHECK_BELOW and on_one_circle(rpts[inl]):
        return None
    box = _registered_box(model, feats, shape)
    if box is None:
        return None
    scale = 1.0 / math.sqrt(abs(det)) * (max(shape) / feats.grid)
    sx = -1.0 if qf.mirrored else 1.0  # the angle after undoing the mirror
    angle = math.degrees(math.atan2(-float(a[0, 1]) * sx, float(a[0, 0]) * sx))
    mirror = " mirrored" if qf.mirrored else ""
    return inliers, box, f"scale {scale:.2f} angle {angle:.0f}{mirror}"


def on_one_circle(points: np.ndarray) -> bool:
    """True when the points lie along one circle (median distance to the least-squares
    circle under :data:`CIRCLE_RESIDUAL` of its radius).

    ORB orients each keypoint by its patch, so the corners along the rim of any disc
    (a wheel, a plate, a logo, a drawn circle) look alike at every angle, and the rim of
    one disc maps onto the rim of another by a rotation and a scale: RANSAC then finds
    "consistent" matches between unrelated pictures. Real re-posts spread their inliers
    over the picture.
    """
    x = points[:, 0].astype(np.float64)
    y = points[:, 1].astype(np.float64)
    a = np.column_stack([x, y, np.ones_like(x)])
    (d, e, f), *_ = np.linalg.lstsq(a, -(x * x + y * y), rcond=None)
    cx, cy = -d / 2, -e / 2
    r2 = cx * cx + cy * cy - f
    if r2 <= 0:
        return False
    r = math.sqrt(r2)
    return bool(np.median(np.abs(np.hypot(x - cx, y - cy) - r)) < CIRCLE_RESIDUAL * r)


def _registered_box(model: np.ndarray, feats: LocalFeatures, shape: tuple[int, int]) -> Box | None:
    full = np.vstack([model, [0.0, 0.0, 1.0]])
    try:
        inv = np.linalg.inv(full)
    except np.linalg.LinAlgError:
        return None
    corners = np.array(
        [
            [0, 0, 1],
            [feats.width_q, 0, 1],
            [feats.width_q, feats.height_q, 1],
            [0, feats.height_q, 1],
        ],
        float,
    )
    q = corners @ inv.T
    h, w = shape
    x0, y0 = max(0.0, q[:, 0].min()), max(0.0, q[:, 1].min())
    x1, y1 = min(float(w), q[:, 0].max()), min(float(h), q[:, 1].max())
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return (round(x0), round(y0), round(x1 - x0), round(y1 - y0))
