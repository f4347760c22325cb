"""A snapshot holds the local features and their descriptor index: a restart finds the same
images without filing any descriptor again, and follows later adds and removals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from empreinte.hashing.robust.features import extract
from empreinte.hashing.signals import SignalType
from empreinte.index.descriptors import DescriptorIndex
from empreinte.index.live import Change, LiveIndex
from empreinte.index.mih import IndexFileError
from tests.robust.test_robust import scene, screenshot


def _add(seq: int, hash_id: int, seed: int) -> Change:
    blob = extract(np.asarray(scene(seed))).to_bytes()
    return Change(seq, "add", SignalType.ORB, hash_id, hashlib.sha256(blob).digest(), blob)


def _found(live: LiveIndex, seed: int) -> list[str]:
    from empreinte.hashing.robust.matcher import query_features

    query, _ = screenshot(scene(seed), (60, 300), 560)
    return [m.key for m in live.search_features(query_features(query), query.shape[:2])]


@pytest.mark.parametrize("train_size", [10**9, 3_000], ids=["exact", "multi-index"])
def test_restart_loads_features_and_index(tmp_path: Path, train_size: int) -> None:
    live = LiveIndex()
    live.robust.descriptors = DescriptorIndex(train_size=train_size, centroids=64)
    live.apply([_add(seq, 100 + seq, seq) for seq in range(1, 21)])
    live.apply([Change(21, "remove", SignalType.ORB, 103, b"")])
    live.save(tmp_path / "snap")
    assert not (tmp_path / "snap" / "orb.npz").exists()

    back = LiveIndex.load(tmp_path / "snap")
    assert back.robust.descriptors.trained == (train_size < 10**9)
    assert back.robust.descriptors.count == live.robust.descriptors.count
    assert _found(back, 7) == ["107"]
    assert _found(back, 3) == []  # removed before the snapshot
    back.apply([Change(22, "remove", SignalType.ORB, 107, b""), _add(23, 200, 40)])
    assert _found(back, 7) == []
    assert _found(back, 40) == ["200"]
    assert len(back.robust) == 19
    back.save(tmp_path / "snap")  # a snapshot of a loaded snapshot
    again = LiveIndex.load(tmp_path / "snap")
    assert _found(again, 40) == ["200"] and _found(again, 9) == ["109"]


def test_damaged_feature_snapshot_is_refused(tmp_path: Path) -> None:
    live = LiveIndex()
    live.apply([_add(1, 1, 1), _add(2, 2, 2)])
    live.save(tmp_path / "snap")
    table = tmp_path / "snap" / "orb-index" / "table.npy"
    np.save(table, np.full((2, 5), 10**6, np.int64))
    with pytest.raises(IndexFileError):
        LiveIndex.load(tmp_path / "snap")
    (tmp_path / "snap" / "orb-index" / "slots.json").write_text("{not json")
    with pytest.raises(IndexFileError):
        LiveIndex.load(tmp_path / "snap")
