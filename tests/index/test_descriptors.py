"""The descriptor index proposes the right images, in both stages, and follows adds and removals."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from empreinte.hashing.robust.features import extract
from empreinte.index.descriptors import DescriptorIndex
from empreinte.index.robust import RobustMatcher
from tests.robust.test_robust import HOSTILE, scene, screenshot


def _noisy(rows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    flips = np.packbits(rng.random((len(rows), 256)) < share, axis=1)
    return np.asarray(rows ^ flips, np.uint8)


@pytest.mark.parametrize(
    ("train_size", "retrain_until"),
    [(10**9, 10**9), (20_000, 10**9), (2_000, 40_000)],
    ids=["exact", "multi-index", "retrained"],
)
def test_noisy_copy_votes_for_its_image_first(train_size: int, retrain_until: int) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (256, 32), dtype=np.uint8) for _ in range(200)]
    index = DescriptorIndex(train_size=train_size, retrain_until=retrain_until, centroids=64)
    alive = np.ones(200, np.bool_)
    for slot, desc in enumerate(images):
        index.add(slot, desc, alive)
    assert index.trained == (train_size < 10**9)
    for slot in (0, 17, 150, 199):  # before and after training, main and delta
        votes = index.votes(_noisy(images[slot][:120], 0.06, rng), 200)
        assert int(np.argmax(votes)) == slot
        assert votes[slot] >= 10 * max(1.0, float(np.sort(votes)[-2]))


def test_merge_drops_removed_images_and_keeps_the_rest() -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (256, 32), dtype=np.uint8) for _ in range(120)]
    index = DescriptorIndex(train_size=10_000, centroids=64)
    alive = np.ones(120, np.bool_)
    for slot, desc in enumerate(images):
        index.add(slot, desc, alive)
    before = index.memory_bytes()
    alive[::2] = False
    index.merge(alive)
    assert index.memory_bytes() < 0.6 * before
    assert index.votes(images[4], 120)[4] == 0
    assert int(np.argmax(index.votes(images[5], 120))) == 5


@pytest.fixture(scope="module")
def trained() -> RobustMatcher:
    """A matcher past its exact stage: 24 photos, the multi-index trained on the first ones."""
    m = RobustMatcher(train_size=3_000, centroids=64)
    for seed in range(24):
        m.add(f"photo-{seed}", extract(np.asarray(scene(seed))))
    assert m.descriptors.trained
    return m


@pytest.mark.parametrize("seed", [0, 5, 23])
def test_trained_matcher_finds_screenshots_and_crops(trained: RobustMatcher, seed: int) -> None:
    query, _ = screenshot(scene(seed), (60, 300), 560)
    found = [x.key for x in trained.query(query)]
    assert found == [f"photo-{seed}"]
    crop = (
        scene(seed).crop((80, 40, 80 + 480, 40 + 360)).rotate(-6, resample=Image.Resampling.BICUBIC)
    )
    found = [x.key for x in trained.query(np.asarray(crop))]
    assert found == [f"photo-{seed}"]


def test_trained_matcher_follows_removal_and_new_adds() -> None:
    m = RobustMatcher(train_size=3_000, centroids=64)
    for seed in range(16):
        m.add(f"photo-{seed}", extract(np.asarray(scene(seed))))
    query = np.asarray(scene(9).crop((50, 50, 500, 400)))
    assert [x.key for x in m.query(query)] == ["photo-9"]
    m.remove("photo-9")
    assert m.query(query) == []
    m.descriptors.merge(m._alive)
    assert m.query(query) == []
    m.add("photo-9-again", extract(np.asarray(scene(9))))
    assert [x.key for x in m.query(query)] == ["photo-9-again"]
    late = np.asarray(scene(40))
    m.add("late", extract(late))
    assert [x.key for x in m.query(late[40:400, 60:600].copy())] == ["late"]


def test_unrelated_and_hostile_queries_find_nothing_in_the_trained_matcher(
    trained: RobustMatcher,
) -> None:
    stranger, _ = screenshot(scene(77), (0, 200), 720)
    assert trained.query(stranger) == []
    for name, make in HOSTILE.items():
        assert trained.query(make()) == [], name


def test_queries_during_adds_training_and_merges_stay_consistent() -> None:
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (256, 32), dtype=np.uint8) for _ in range(400)]
    index = DescriptorIndex(train_size=20_000, centroids=64)
    alive = np.ones(400, np.bool_)
    errors: list[BaseException] = []
    done = threading.Event()

    def query_loop() -> None:
        try:
            while not done.is_set():
                n = int(np.count_nonzero(added))
                votes = index.votes(images[0][:100], n)
                assert votes.shape == (n,)
                if n:
                    assert int(np.argmax(votes)) == 0
        except BaseException as exc:
            errors.append(exc)

    added = np.zeros(400, np.bool_)
    index.add(0, images[0], alive)
    added[0] = True
    threads = [threading.Thread(target=query_loop) for _ in range(2)]
    for t in threads:
        t.start()
    for slot in range(1, 400):  # crosses training (slot 78) and several merges
        index.add(slot, images[slot], alive)
        added[slot] = True
    done.set()
    for t in threads:
        t.join()
    assert errors == []
    assert index.trained
    assert int(np.argmax(index.votes(images[399][:100], 400))) == 399
