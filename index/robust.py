"""Registered images in memory, found inside query images: candidates, then verification.

:class:`RobustMatcher` holds the local features victims registered and answers "which
of them are in this query image, where, and why": candidates from
:class:`~empreinte.index.descriptors.DescriptorIndex` (the images sharing most
descriptors with the query, found without scanning every image), then an affine map
fitted by RANSAC for each (:func:`~empreinte.hashing.robust.matcher.verify`). A match
needs many geometrically consistent inliers, which chance almost never gives. Finds
crops, small rotations, screenshots, stories and collages, and yields the box.

PDQ (of the whole image and of its regions) goes through the exact multi-index
Hamming index of :class:`empreinte.index.live.LiveIndex`, not through this class.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from empreinte.hashing.robust.features import LocalFeatures
from empreinte.hashing.robust.matcher import (
    CANDIDATES,
    LOOKUPS,
    MIN_INLIERS,
    Match,
    QueryFeatures,
    check_query,
    orb_confidence,
    query_features,
    verify,
)
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
        self.min_inliers = MIN_INLIERS
        self.lookups = LOOKUPS

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(self, fingerprint_id: str, features: LocalFeatures | None) -> None:
        """Register one image by its local features."""
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
        return self.descriptors.memory_bytes() + feats

    # ------------------------------------------------------------------ query

    def query(self, rgb: np.ndarray) -> list[Match]:
        """Return the registered images found in ``rgb`` by local features, strongest first.

        Raises :class:`ValueError` for arrays that are not an image or are too
        large or too elongated to be a re-post (a clear refusal, never a crash).
        """
        check_query(rgb)
        found = self.match_features(query_features(rgb), rgb.shape[:2])
        return sorted(found, key=lambda m: -m.confidence)

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
