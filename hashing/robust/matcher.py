"""In-memory matcher: find registered images inside a query image, and say where and why.

Two signals, each computed from what the victim registered with ``empreinte hash``:

``pdq``
    The registered image's PDQ hash against the 8 dihedral PDQ hashes of every
    query region (:mod:`empreinte.hashing.robust.regions`). Finds whole-photo
    re-posts, also mirrored, rotated by 90 degrees, or framed by UI.
``orb``
    The registered local features (:mod:`empreinte.hashing.robust.features`)
    against ORB features of the query. Every query descriptor looks up its
    nearest registered descriptors in one FAISS binary index over all
    registered images; the images with most hits are verified by fitting an
    affine map with RANSAC. A match needs many geometrically consistent
    inliers, which chance almost never gives. Finds crops, small rotations,
    screenshots, stories and collages, and yields the box.

:meth:`RobustMatcher.query` returns one :class:`Match` per registered image
found, strongest first, with its confidence in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

import cv2
import faiss
import numpy as np

from empreinte.hashing.robust.features import LocalFeatures, orb_features, to_gray
from empreinte.hashing.robust.pdq import pdq_dihedral
from empreinte.hashing.robust.regions import Box, propose

IndexKind = Literal["flat", "ivf"]

PDQ_THRESHOLD: Final = 31
PDQ_SIDE: Final = 768
"""Region proposals and their PDQ hashes are computed on a copy of this longer side."""
QUERY_FEATURES: Final = 1500
QUERY_MAX_AREA: Final = 1_000_000
REGION_SEARCHES: Final = 0
"""Region-local ORB passes. 3 was measured (feed +1, chat -5, crop_60 -8 points of recall,
2x slower) and is off."""
REGION_FEATURES: Final = 500
DETECT_FACTOR: Final = 6
"""ORB keeps the strongest corners image-wide, and UI text has the strongest; detecting 6x the
budget leaves photo corners for :func:`spread` to pick."""
FLAT_VARIANCE: Final = 1.0
FLAT_WINDOW: Final = 25
FLAT_SHARE: Final = 0.35
REGION_SIDE: Final = 640
VOTE_DISTANCE: Final = 64
"""A query descriptor votes for registered descriptors at most this far (of 256 bits)."""
NEIGHBOURS: Final = 8
LOOKUPS: Final = 1500
"""Query features looked up in the index to pick candidates (all are used to verify)."""
CANDIDATES: Final = 8
MIN_VOTES: Final = 1.5
MATCH_DISTANCE: Final = 72
RATIO: Final = 0.9
RANSAC_GRID_UNITS: Final = 2.5
MIN_INLIERS: Final = 14
"""Fewer geometric inliers than this is never reported (see :func:`orb_confidence`)."""
MAX_QUERY_PIXELS: Final = 60_000_000
MAX_ASPECT: Final = 40.0
MIN_QUERY_SIDE: Final = 16
DIHEDRAL: Final = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "flip_x",
    "flip_y",
    "transpose",
    "transverse",
)


@dataclass(frozen=True, slots=True)
class Match:
    """One registered image found in a query, and the evidence for it."""

    fingerprint_id: str
    signal: Literal["pdq", "orb"]
    confidence: float
    box: Box
    """Where the registered image sits in the query: x, y, width, height in query pixels."""
    distance: int | None = None
    """PDQ Hamming distance (of 256 bits), for the ``pdq`` signal."""
    inliers: int | None = None
    """Geometrically consistent feature matches, for the ``orb`` signal."""
    detail: str = ""
    """Human-readable: the dihedral variant for ``pdq``, the fitted scale and angle for ``orb``."""


@dataclass(frozen=True, slots=True)
class QueryFeatures:
    """ORB features of a query, in the pixels of the query as given."""

    points: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray  # (n, 32) uint8
    _index: list[faiss.IndexBinary] = field(default_factory=list, repr=False, compare=False)

    def index(self) -> faiss.IndexBinary:
        """A flat binary index over the query descriptors, built once."""
        if not self._index:
            idx = faiss.IndexBinaryFlat(256)
            idx.add(self.descriptors)
            self._index.append(idx)
        return self._index[0]


def pdq_confidence(distance: int) -> float:
    """Confidence of a PDQ match at ``distance``: 1 at 0, 0.5 at the threshold 31."""
    if distance > PDQ_THRESHOLD:
        return 0.0
    return round(1.0 - 0.5 * distance / PDQ_THRESHOLD, 4)


def orb_confidence(inliers: int) -> float:
    """Confidence of an ORB match with ``inliers`` RANSAC inliers.

    Calibrated on the benchmark's unrelated queries (see ``benchmarks/robustness``):
    chance verification gives few inliers, so the curve is 0.5 at
    :data:`MIN_INLIERS` and rises to about 0.95 at twice that.
    """
    if inliers < MIN_INLIERS:
        return 0.0
    return round(1.0 - 0.5 * math.exp(-(inliers - MIN_INLIERS) / 6.0), 4)


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
    keypoint whose neighbourhood is mostly exactly flat is most likely UI.
    """
    if len(points) == 0:
        return np.ones(0, np.float32)
    g = gray.astype(np.float32)
    mean = cv2.blur(g, (3, 3))
    var = cv2.blur(g * g, (3, 3)) - mean * mean
    flat = (var < FLAT_VARIANCE).astype(np.float32)
    share = cv2.blur(flat, (FLAT_WINDOW, FLAT_WINDOW))
    h, w = gray.shape
    xs = np.clip(points[:, 0].astype(np.int64), 0, w - 1)
    ys = np.clip(points[:, 1].astype(np.int64), 0, h - 1)
    return np.where(share[ys, xs] > FLAT_SHARE, 0.01, 1.0).astype(np.float32)


def query_features(
    rgb: np.ndarray, regions: Sequence[Box] = (), cap: int = QUERY_FEATURES
) -> QueryFeatures:
    """ORB features of the whole query plus of up to 3 region proposals, in query pixels.

    A photo that fills a tenth of a screenshot gets few of the whole image's
    features; a proposal around it gets its own budget at the registered scale.
    """
    gray, f = prepare_gray(rgb)
    pts, desc = orb_features(gray, cap * DETECT_FACTOR, cap, 10, photo_likeness)
    all_pts, all_desc = [pts / f], [desc]
    h, w = rgb.shape[:2]
    used = 0
    for x, y, bw, bh in regions:
        if used >= REGION_SEARCHES or not 0.03 * h * w <= bw * bh <= 0.6 * h * w:
            continue
        used += 1
        crop = to_gray(rgb[y : y + bh, x : x + bw])
        g = min(3.0, REGION_SIDE / max(bw, bh))
        small = cv2.resize(
            crop,
            (max(1, round(bw * g)), max(1, round(bh * g))),
            interpolation=cv2.INTER_AREA if g < 1 else cv2.INTER_LINEAR,
        )
        p2, d2 = orb_features(np.asarray(small), REGION_FEATURES * 3, REGION_FEATURES, 10)
        all_pts.append(p2 / g + np.array([x, y], np.float32))
        all_desc.append(d2)
    return QueryFeatures(
        points=np.ascontiguousarray(np.concatenate(all_pts), dtype=np.float32),
        descriptors=np.ascontiguousarray(np.concatenate(all_desc)),
    )


class _DescriptorIndex:
    """All registered descriptors in one FAISS binary index; row -> slot."""

    def __init__(self, kind: IndexKind, nlist: int, nprobe: int) -> None:
        self.kind = kind
        self.nlist = nlist
        self.nprobe = nprobe
        self.index: faiss.IndexBinary = faiss.IndexBinaryFlat(256)
        self._quantizer: faiss.IndexBinary | None = None
        self.slots = np.zeros(0, np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, slot: int, descriptors: np.ndarray) -> None:
        self._pending.append((descriptors, np.full(len(descriptors), slot, np.int64)))

    def _flush(self) -> None:
        if not self._pending:
            return
        desc = np.concatenate([d for d, _ in self._pending])
        slots = np.concatenate([s for _, s in self._pending])
        self._pending.clear()
        if self.kind == "ivf" and isinstance(self.index, faiss.IndexBinaryFlat):
            total = self.index.ntotal + len(desc)
            if total >= 40 * self.nlist:
                old = self._rows()
                desc = np.concatenate([old, desc]) if len(old) else desc
                quantizer = faiss.IndexBinaryFlat(256)
                ivf = faiss.IndexBinaryIVF(quantizer, 256, self.nlist)
                self._quantizer = quantizer  # the IVF index does not own it
                ivf.cp.niter = 10
                sample = np.random.default_rng(0).permutation(len(desc))[: 30 * self.nlist]
                ivf.train(desc[sample])
                ivf.nprobe = self.nprobe
                self.index = ivf
                self.index.add(desc)
                self.slots = np.concatenate([self.slots, slots])
                return
        self.index.add(desc)
        self.slots = np.concatenate([self.slots, slots])

    def _rows(self) -> np.ndarray:
        if self.index.ntotal == 0:
            return np.zeros((0, 32), np.uint8)
        xb = getattr(self.index, "xb")  # noqa: B009 - not in the faiss stubs
        return np.asarray(faiss.vector_to_array(xb), np.uint8).reshape(-1, 32).copy()

    def search(self, desc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, slots) of the ``k`` nearest registered descriptors, -1 for none."""
        self._flush()
        if self.index.ntotal == 0 or len(desc) == 0:
            empty = np.full((len(desc), k), -1, np.int64)
            return np.full((len(desc), k), 1 << 30, np.int32), empty
        dist, rows = self.index.search(desc, k)
        slots = np.where(rows >= 0, self.slots[np.maximum(rows, 0)], -1)
        return dist, slots

    def memory_bytes(self) -> int:
        self._flush()
        return int(self.index.ntotal) * (32 + 8 + 8)


class RobustMatcher:
    """Registered images in memory; :meth:`query` finds them in a query image."""

    def __init__(self, index: IndexKind = "ivf", nlist: int = 256, nprobe: int = 32) -> None:
        self._ids: list[str] = []
        self._slot_of: dict[str, int] = {}
        self._features: list[LocalFeatures | None] = []
        self._alive: list[bool] = []
        self._desc_index = _DescriptorIndex(index, nlist, nprobe)
        self._pdq_index: faiss.IndexBinary = faiss.IndexBinaryFlat(256)
        self._pdq_slots: list[int] = []
        self.min_inliers = MIN_INLIERS
        self.lookups = LOOKUPS
        self.pdq_threshold = PDQ_THRESHOLD

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(
        self, fingerprint_id: str, features: LocalFeatures | None, pdq: bytes | None = None
    ) -> None:
        """Register one image by its local features and/or its 32-byte PDQ hash."""
        if fingerprint_id in self._slot_of:
            self.remove(fingerprint_id)
        slot = len(self._ids)
        self._ids.append(fingerprint_id)
        self._slot_of[fingerprint_id] = slot
        self._features.append(features)
        self._alive.append(True)
        if features is not None and len(features):
            self._desc_index.add(slot, features.descriptors)
        if pdq is not None:
            if len(pdq) != 32:
                raise ValueError("a PDQ hash is 32 bytes")
            self._pdq_index.add(np.frombuffer(pdq, np.uint8).reshape(1, 32))
            self._pdq_slots.append(slot)

    def remove(self, fingerprint_id: str) -> None:
        """Forget an image; its index rows stay as tombstones and are skipped."""
        slot = self._slot_of.pop(fingerprint_id, None)
        if slot is not None:
            self._alive[slot] = False
            self._features[slot] = None

    def memory_bytes(self) -> int:
        """Approximate bytes held for the registered images (index rows and features)."""
        feats = sum(len(f.to_bytes()) for f in self._features if f is not None)
        return self._desc_index.memory_bytes() + feats + 40 * len(self._pdq_slots)

    # ------------------------------------------------------------------ query

    def query(self, rgb: np.ndarray, signals: Iterable[str] = ("pdq", "orb")) -> list[Match]:
        """Return the registered images found in ``rgb``, strongest first.

        Raises :class:`ValueError` for arrays that are not an image or are too
        large or too elongated to be a re-post (a clear refusal, never a crash).
        """
        check_query(rgb)
        wanted = set(signals)
        found: dict[str, Match] = {}
        if "orb" in wanted:
            for m in self.query_orb(rgb):
                _keep_best(found, m)
        if "pdq" in wanted:
            small, f = shrink_rgb(rgb, PDQ_SIDE)
            for m in self.query_pdq(small):
                _keep_best(found, replace(m, box=_unscale(m.box, f, rgb.shape[:2])))
        return sorted(found.values(), key=lambda m: -m.confidence)

    def query_pdq(self, rgb: np.ndarray, regions: Sequence[Box] | None = None) -> list[Match]:
        """PDQ (8 dihedral variants) of every region proposal against registered PDQ hashes."""
        if self._pdq_index.ntotal == 0:
            return []
        boxes = list(regions) if regions is not None else propose(rgb)
        hashes: list[bytes] = []
        owners: list[tuple[Box, int]] = []
        for box in boxes:
            crop = _crop_for_pdq(rgb, box)
            if crop is None:
                continue
            variants, quality = pdq_dihedral(crop)
            if quality < 20:
                continue
            for v, h in enumerate(variants):
                hashes.append(h)
                owners.append((box, v))
        if not hashes:
            return []
        q = np.frombuffer(b"".join(hashes), np.uint8).reshape(-1, 32)
        k = min(4, self._pdq_index.ntotal)
        dist, rows = self._pdq_index.search(q, k)
        out: list[Match] = []
        for i in range(len(q)):
            for d, r in zip(dist[i], rows[i], strict=True):
                if r < 0 or d > self.pdq_threshold:
                    continue
                slot = self._pdq_slots[int(r)]
                if not self._alive[slot]:
                    continue
                box, v = owners[i]
                out.append(
                    Match(
                        self._ids[slot],
                        "pdq",
                        pdq_confidence(int(d)),
                        box,
                        distance=int(d),
                        detail=DIHEDRAL[v],
                    )
                )
        return out

    def query_orb(self, rgb: np.ndarray, regions: Sequence[Box] = ()) -> list[Match]:
        """Local features of the query against all registered features, verified by RANSAC."""
        return self.match_features(query_features(rgb, regions), rgb.shape[:2])

    def match_features(self, qf: QueryFeatures, shape: tuple[int, int]) -> list[Match]:
        """Match query features computed earlier (perhaps in another process) for an
        image of ``shape`` (height, width)."""
        if len(qf.descriptors) < self.min_inliers:
            return []
        out: list[Match] = []
        for slot in self._candidates(qf):
            feats = self._features[slot]
            if feats is None:
                continue
            m = verify(qf, feats, shape, self.min_inliers)
            if m is not None:
                inliers, box, detail = m
                out.append(
                    Match(
                        self._ids[slot],
                        "orb",
                        orb_confidence(inliers),
                        box,
                        inliers=inliers,
                        detail=detail,
                    )
                )
        return out

    def _candidates(self, qf: QueryFeatures) -> list[int]:
        """Registered images with the most (distance-weighted) descriptor hits."""
        dist, slots = self._desc_index.search(qf.descriptors[: self.lookups], NEIGHBOURS)
        ok = (dist <= VOTE_DISTANCE) & (slots >= 0)
        if not ok.any():
            return []
        n = len(self._ids)
        weight = (VOTE_DISTANCE + 1 - dist[ok]) / (VOTE_DISTANCE + 1)
        key = np.nonzero(ok)[0].astype(np.int64) * n + slots[ok]
        order = np.lexsort((-weight, key))  # best hit of each (query feature, image) first
        key, weight = key[order], weight[order]
        first = np.ones(len(key), bool)
        first[1:] = key[1:] != key[:-1]
        votes = np.bincount(key[first] % n, weights=weight[first], minlength=n)
        top = np.argsort(-votes, kind="stable")[:CANDIDATES]
        return [int(s) for s in top if votes[s] >= MIN_VOTES and self._alive[int(s)]]


def shrink_rgb(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Shrink an RGB image (never enlarge) to at most ``side`` on its longer side."""
    h, w = rgb.shape[:2]
    f = min(1.0, side / max(h, w))
    if f >= 1.0:
        return rgb, 1.0
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_AREA if f < 0.5 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(rgb, size, interpolation=interp)), f


def _unscale(box: Box, f: float, shape: tuple[int, ...]) -> Box:
    if f == 1.0:
        return box
    x, y, w, h = (round(v / f) for v in box)
    return (x, y, min(w, shape[1] - x), min(h, shape[0] - y))


def _keep_best(found: dict[str, Match], m: Match) -> None:
    old = found.get(m.fingerprint_id)
    if old is None or m.confidence > old.confidence:
        found[m.fingerprint_id] = m


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


def _crop_for_pdq(rgb: np.ndarray, box: Box) -> np.ndarray | None:
    x, y, w, h = box
    if min(w, h) < MIN_QUERY_SIDE:
        return None
    crop = rgb[y : y + h, x : x + w]
    side = max(w, h)
    if side > 512:
        f = 512 / side
        crop = cv2.resize(
            crop, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
        )
    return np.ascontiguousarray(crop)


def correspondences(qf: QueryFeatures, feats: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one (query index, registered index) pairs passing distance and ratio tests."""
    dist, idx = qf.index().search(feats.descriptors, 2)
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
    if det <= 0:
        return None
    s = np.linalg.svd(a, compute_uv=False)
    if s[0] / max(s[1], 1e-9) > 2.5:
        return None
    inl = mask.ravel().astype(bool)
    spread_x = np.ptp(rpts[inl, 0])
    spread_y = np.ptp(rpts[inl, 1])
    if spread_x < feats.grid * 0.06 or spread_y < feats.grid * 0.06:
        return None
    box = _registered_box(model, feats, shape)
    if box is None:
        return None
    scale = 1.0 / math.sqrt(det) * (max(shape) / feats.grid)
    angle = math.degrees(math.atan2(-float(a[0, 1]), float(a[0, 0])))
    return inliers, box, f"scale {scale:.2f} angle {angle:.0f}"


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
