"""Registered images in memory, found inside query images: candidates, then verification.

:class:`RobustMatcher` holds what victims registered (local features and PDQ hashes)
and answers "which of them are in this query image, where, and why":

``orb``
    Candidates from :class:`~empreinte.index.descriptors.DescriptorIndex` (the images
    sharing most descriptors with the query, found without scanning every image), then
    an affine map fitted by RANSAC for each (:func:`~empreinte.hashing.robust.matcher.verify`).
    A match needs many geometrically consistent inliers, which chance almost never gives.
    Finds crops, small rotations, screenshots, stories and collages, and yields the box.
``pdq``
    The registered PDQ hashes against the 8 dihedral PDQ hashes of every region
    proposal of the query (used by the benchmark; the service sends PDQ through the
    exact multi-index hashing index instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import faiss
import numpy as np

from empreinte.hashing.robust.features import LocalFeatures
from empreinte.hashing.robust.matcher import (
    CANDIDATES,
    DIHEDRAL,
    LOOKUPS,
    MIN_INLIERS,
    PDQ_SIDE,
    PDQ_THRESHOLD,
    Match,
    QueryFeatures,
    check_query,
    crop_for_pdq,
    orb_confidence,
    pdq_confidence,
    query_features,
    shrink_rgb,
    verify,
)
from empreinte.hashing.robust.pdq import pdq_dihedral
from empreinte.hashing.robust.regions import Box, propose
from empreinte.index.descriptors import CENTROIDS, PROBES, TRAIN_SIZE, DescriptorIndex

__all__ = ["Match", "RobustMatcher"]


class RobustMatcher:
    """Registered images in memory; :meth:`query` finds them in a query image."""

    def __init__(
        self,
        *,
        train_size: int = TRAIN_SIZE,
        centroids: int = CENTROIDS,
        probes: int = PROBES,
    ) -> None:
        self._ids: list[str] = []
        self._slot_of: dict[str, int] = {}
        self._features: list[LocalFeatures | None] = []
        self._alive = np.zeros(1024, np.bool_)
        self.descriptors = DescriptorIndex(
            train_size=train_size, centroids=centroids, probes=probes
        )
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
        if slot >= len(self._alive):  # grown before the slot exists: readers never see less
            self._alive = np.concatenate([self._alive, np.zeros(len(self._alive), np.bool_)])
        self._features.append(features)
        self._ids.append(fingerprint_id)
        self._slot_of[fingerprint_id] = slot
        self._alive[slot] = True
        if features is not None and len(features):
            self.descriptors.add(slot, features.descriptors, self._alive)
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

    def items(self) -> Iterator[tuple[str, LocalFeatures]]:
        """The registered images that have local features, as (id, features)."""
        for fingerprint_id, slot in self._slot_of.items():
            features = self._features[slot]
            if features is not None:
                yield fingerprint_id, features

    def memory_bytes(self) -> int:
        """Approximate bytes held for the registered images (index rows and features)."""
        feats = sum(8 + 34 * len(f) for f in self._features if f is not None)
        return self.descriptors.memory_bytes() + feats + 40 * len(self._pdq_slots)

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
            crop = crop_for_pdq(rgb, box)
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

    def query_orb(self, rgb: np.ndarray) -> list[Match]:
        """Local features of the query against all registered features, verified by RANSAC."""
        return self.match_features(query_features(rgb), rgb.shape[:2])

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
        """Live registered images with the most descriptor votes, best first."""
        alive = self._alive
        n = min(len(self._ids), len(alive))
        votes = self.descriptors.votes(qf.descriptors[: self.lookups], n)
        votes[~alive[:n]] = 0.0
        top = np.argsort(-votes, kind="stable")[:CANDIDATES]
        return [int(s) for s in top if votes[s] >= self.descriptors.min_votes]


def _unscale(box: Box, f: float, shape: tuple[int, ...]) -> Box:
    if f == 1.0:
        return box
    x, y, w, h = (round(v / f) for v in box)
    return (x, y, min(w, shape[1] - x), min(h, shape[0] - y))


def _keep_best(found: dict[str, Match], m: Match) -> None:
    old = found.get(m.fingerprint_id)
    if old is None or m.confidence > old.confidence:
        found[m.fingerprint_id] = m
