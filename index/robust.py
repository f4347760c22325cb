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

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from empreinte.hashing.robust.features import LocalFeatures
from empreinte.hashing.robust.matcher import (
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


class _OnDisk:
    """Registered features read from a snapshot, memory-mapped: only candidates are read.

    ``descriptors.npy`` (n, 32) and ``points.npy`` (n, 2) uint8 hold every slot's features
    end to end; ``table.npy`` (slots, 5) int64 holds each slot's offset, count, width_q,
    height_q and grid bits (count -1: no features).
    """

    def __init__(self, folder: Path) -> None:
        self.descriptors = np.load(folder / "descriptors.npy", mmap_mode="r")
        self.points = np.load(folder / "points.npy", mmap_mode="r")
        self.table = np.load(folder / "table.npy")
        n = len(self.descriptors)
        if (
            self.descriptors.shape != (n, 32)
            or self.points.shape != (n, 2)
            or self.table.ndim != 2
            or self.table.shape[1] != 5
            or (self.table[:, 0] + np.maximum(self.table[:, 1], 0) > n).any()
        ):
            raise ValueError("registered features: arrays do not match their table")

    def get(self, slot: int) -> LocalFeatures | None:
        offset, count, wq, hq, bits = (int(v) for v in self.table[slot])
        if count < 0:
            return None
        end = offset + count
        return LocalFeatures(
            np.array(self.descriptors[offset:end]), np.array(self.points[offset:end]), wq, hq, bits
        )


def _save_features(folder: Path, features: list[LocalFeatures | None]) -> None:
    table = np.zeros((len(features), 5), np.int64)
    offset = 0
    for slot, f in enumerate(features):
        if f is None:
            table[slot] = (offset, -1, 0, 0, 0)
        else:
            table[slot] = (offset, len(f), f.width_q, f.height_q, f.grid_bits)
            offset += len(f)
    present = [f for f in features if f is not None]
    desc = np.concatenate([f.descriptors for f in present] or [np.zeros((0, 32), np.uint8)])
    pts = np.concatenate([f.points for f in present] or [np.zeros((0, 2), np.uint8)])
    np.save(folder / "descriptors.npy", desc)
    np.save(folder / "points.npy", pts)
    np.save(folder / "table.npy", table)


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
        """Features added since the snapshot, for slots from ``_disk_slots`` on."""
        self._disk: _OnDisk | None = None
        self._disk_slots = 0
        self._dropped: set[int] = set()
        """Snapshot slots removed since."""
        self._alive = np.zeros(1024, np.bool_)
        self.descriptors = DescriptorIndex(
            train_size=train_size, centroids=centroids, probes=probes
        )
        self.min_inliers = MIN_INLIERS
        self.lookups = LOOKUPS

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(self, key: str, features: LocalFeatures | None) -> None:
        """Register one image by its local features."""
        if key in self._slot_of:
            self.remove(key)
        slot = len(self._ids)
        if slot >= len(self._alive):  # grown before the slot exists: readers never see less
            self._alive = np.concatenate([self._alive, np.zeros(len(self._alive), np.bool_)])
        self._features.append(features)
        self._ids.append(key)
        self._slot_of[key] = slot
        self._alive[slot] = True
        if features is not None and len(features):
            self.descriptors.add(slot, features.descriptors, self._alive)

    def remove(self, key: str) -> None:
        """Forget an image; its index rows stay as tombstones and are skipped."""
        slot = self._slot_of.pop(key, None)
        if slot is not None:
            self._alive[slot] = False
            if slot < self._disk_slots:
                self._dropped.add(slot)
            else:
                self._features[slot - self._disk_slots] = None

    def features_of(self, slot: int) -> LocalFeatures | None:
        """The registered features of ``slot`` (read from disk for a snapshot's slots)."""
        if slot >= self._disk_slots:
            return self._features[slot - self._disk_slots]
        if self._disk is None or slot in self._dropped:
            return None
        return self._disk.get(slot)

    def items(self) -> Iterator[tuple[str, LocalFeatures]]:
        """The registered images that have local features, as (id, features)."""
        for key, slot in self._slot_of.items():
            features = self.features_of(slot)
            if features is not None:
                yield key, features

    def memory_bytes(self) -> int:
        """Approximate bytes held in memory for the registered images (index rows and the
        features added since the snapshot; a snapshot's features stay on disk)."""
        feats = sum(8 + 34 * len(f) for f in self._features if f is not None)
        return self.descriptors.memory_bytes() + feats

    def save(self, folder: Path) -> None:
        """Write the registered images to ``folder``: ids and liveness (``slots.json``,
        ``alive.npy``), features (see :class:`_OnDisk`) and the descriptor index, so a
        restart loads it instead of filing every descriptor again."""
        folder.mkdir(parents=True, exist_ok=True)
        n = len(self._ids)
        _save_features(folder, [self.features_of(slot) for slot in range(n)])
        alive = np.ascontiguousarray(self._alive[:n])
        np.save(folder / "alive.npy", alive)
        (folder / "slots.json").write_text(json.dumps(self._ids))
        self.descriptors.save(folder / "descriptors", self._alive)

    @classmethod
    def load(cls, folder: Path) -> RobustMatcher:
        """Read what :meth:`save` wrote; features and postings stay memory-mapped.

        Raises ``OSError``, ``ValueError`` or ``KeyError`` when the folder is damaged.
        """
        ids = json.loads((folder / "slots.json").read_text())
        alive: NDArray[np.bool_] = np.load(folder / "alive.npy")
        disk = _OnDisk(folder)
        if not isinstance(ids, list) or len(alive) != len(ids) or len(disk.table) != len(ids):
            raise ValueError("registered features: slots, liveness and table disagree")
        m = cls()
        m.descriptors = DescriptorIndex.load(folder / "descriptors")
        m._ids = [str(i) for i in ids]
        m._alive = np.zeros(max(1024, 2 * len(ids)), np.bool_)
        m._alive[: len(ids)] = alive
        m._slot_of = {key: slot for slot, key in enumerate(m._ids) if alive[slot]}
        m._disk, m._disk_slots = disk, len(ids)
        m._dropped = {slot for slot in range(len(ids)) if not alive[slot]}
        return m

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
        image of ``shape`` (height, width); each view of the query is matched on its own
        and the strongest match of each registered image is kept."""
        best: dict[int, Match] = {}
        for view in qf.all_views():
            if len(view.descriptors) < self.min_inliers:
                continue
            for slot in self._candidates(view):
                found = self._verify(slot, view, shape)
                if found is not None and (slot not in best or found.inliers > best[slot].inliers):
                    best[slot] = found
        return list(best.values())

    def _verify(self, slot: int, view: QueryFeatures, shape: tuple[int, int]) -> Match | None:
        feats = self.features_of(slot)
        if feats is None:
            return None
        m = verify(view, feats, shape, self.min_inliers)
        if m is None:
            return None
        inliers, box, detail = m
        return Match(
            self._ids[slot], "orb", orb_confidence(inliers), box, inliers=inliers, detail=detail
        )

    def _candidates(self, qf: QueryFeatures) -> list[int]:
        """Live registered images with the most descriptor votes, best first."""
        alive = self._alive
        n = min(len(self._ids), len(alive))
        votes = self.descriptors.votes(qf.descriptors[: self.lookups], n)
        votes[~alive[:n]] = 0.0
        top = np.argsort(-votes, kind="stable")[: qf.candidates]
        return [int(s) for s in top if votes[s] >= self.descriptors.min_votes]
