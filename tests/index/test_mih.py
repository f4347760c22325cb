"""Tests of the exact multi-index-hashing Hamming index (Norouzi et al., TPAMI 2014).

Every result is checked against a numpy brute force: ids and distances of all live codes
within the radius (inclusive), ordered by (distance, id).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from empreinte.index.mih import HammingIndex, IndexFileError

POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


def flip(code: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Copy of ``code`` with the given bit positions flipped."""
    out = code.copy()
    for b in bits:
        out[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def at_distance(code: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    return flip(code, rng.choice(code.shape[0] * 8, size=d, replace=False))


def spread(code: np.ndarray, per_chunk: list[int], rng: np.random.Generator) -> np.ndarray:
    """Flip ``per_chunk[k]`` random bits inside each 32-bit chunk ``k`` (pigeonhole edges)."""
    bits = [32 * k + b for k, d in enumerate(per_chunk) for b in rng.choice(32, d, replace=False)]
    return flip(code, np.array(bits, dtype=np.int64))


class Model:
    """Reference: a dict of live id -> code, searched by brute force."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.codes: dict[int, np.ndarray] = {}

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        for i, c in zip(ids.tolist(), codes, strict=True):
            self.codes[i] = c.copy()

    def remove(self, ids: np.ndarray) -> int:
        return sum(self.codes.pop(i, None) is not None for i in set(ids.tolist()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array(sorted(self.codes), dtype=np.int64)
        codes = np.array([self.codes[i] for i in ids.tolist()], dtype=np.uint8)
        return ids, codes.reshape(-1, self.nbytes)


def distances(codes: np.ndarray, q: np.ndarray) -> np.ndarray:
    return POP8[codes ^ q].sum(axis=1, dtype=np.int32) if len(codes) else np.zeros(0, np.int32)


def brute(
    ids: np.ndarray, codes: np.ndarray, q: np.ndarray, radius: int, d: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    d = distances(codes, q) if d is None else d
    m = d <= radius
    order = np.lexsort((ids[m], d[m]))
    return ids[m][order], d[m][order]


def assert_exact(
    index: HammingIndex,
    ids: np.ndarray,
    codes: np.ndarray,
    queries: np.ndarray,
    radius: int,
    dists: list[np.ndarray] | None = None,
) -> int:
    """Compare search_batch with the brute force; returns how many results were checked."""
    got = index.search_batch(queries, radius)
    total = 0
    for i, (q, (gi, gd)) in enumerate(zip(queries, got, strict=True)):
        ei, ed = brute(ids, codes, q, radius, None if dists is None else dists[i])
        assert gi.dtype == np.int64 and gd.dtype == np.int32
        np.testing.assert_array_equal(gi, ei, err_msg=f"ids at radius {radius}")
        np.testing.assert_array_equal(gd, ed, err_msg=f"distances at radius {radius}")
        total += len(ei)
    return total


def assert_model(index: HammingIndex, model: Model, queries: np.ndarray, radius: int) -> None:
    ids, codes = model.arrays()
    assert len(index) == len(ids)
    assert_exact(index, ids, codes, queries, radius)


def planted_dataset(
    rng: np.random.Generator, nbytes: int, n_random: int, clustered: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Database and queries: noise (uniform or clustered) plus neighbours of each query planted
    at every distance 0..32 and at pigeonhole edges (31 and 32 spread over all chunks)."""
    nbits = nbytes * 8
    if clustered:
        centres = rng.integers(0, 256, (40, nbytes), dtype=np.uint8)
        picks = centres[rng.integers(0, 40, n_random)]
        base = np.array([at_distance(c, int(rng.integers(0, 41)), rng) for c in picks])
        queries = np.array([at_distance(c, int(rng.integers(0, 12)), rng) for c in centres[:24]])
    else:
        base = rng.integers(0, 256, (n_random, nbytes), dtype=np.uint8)
        queries = rng.integers(0, 256, (24, nbytes), dtype=np.uint8)
    planted = []
    chunks = nbits // 32
    for q in queries:
        planted += [at_distance(q, d, rng) for d in range(0, 33)]
        if chunks == 8:
            planted.append(spread(q, list(rng.permutation([4, 4, 4, 4, 4, 4, 4, 3])), rng))
            planted.append(spread(q, [4] * 8, rng))
            planted.append(spread(q, list(rng.permutation([2, 2, 5, 5, 5, 4, 4, 4])), rng))
    codes = np.concatenate([base, np.array(planted, dtype=np.uint8)])
    ids = rng.permutation(len(codes)).astype(np.int64) * 7 - 1000  # negative ids too
    return ids, codes, queries


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("clustered", [False, True], ids=["random", "clustered"])
def test_exact_every_radius_256(clustered: bool) -> None:
    rng = np.random.default_rng(1 + clustered)
    ids, codes, queries = planted_dataset(rng, 32, 30000, clustered)
    index = HammingIndex(256, pending_limit=10**9)
    half = len(ids) // 2
    index.add(ids[:half], codes[:half])
    index.compact()
    index.add(ids[half:], codes[half:])  # half built (MIH), half pending (scan)
    assert index.pending == len(ids) - half
    dists = [distances(codes, q) for q in queries]
    found = {r: assert_exact(index, ids, codes, queries, r, dists) for r in range(32)}
    assert found[31] >= 24 * 32 and found[0] >= 24
    for r in (32, 33, 40, 47, 48, 63, 64, 100, 256, 1000):  # past the MIH design radius
        assert_exact(index, ids, codes, queries[:6], r)


def test_pigeonhole_edges_at_31_and_32() -> None:
    rng = np.random.default_rng(7)
    q = rng.integers(0, 256, 32, dtype=np.uint8)
    far = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    at31 = spread(q, [4, 4, 4, 4, 4, 4, 4, 3], rng)
    at32 = spread(q, [4] * 8, rng)
    index = HammingIndex(256)
    index.add(np.arange(2002), np.concatenate([far, [at31, at32]]))
    index.compact()
    ids, dists = index.search(q, 31)
    assert 2000 in ids.tolist() and 2001 not in ids.tolist()
    assert dists[ids.tolist().index(2000)] == 31
    ids, _ = index.search(q, 32)
    assert {2000, 2001} <= set(ids.tolist())


def test_exact_64_bit_codes() -> None:
    rng = np.random.default_rng(3)
    ids, codes, queries = planted_dataset(rng, 8, 20000, clustered=False)
    index = HammingIndex(64, pending_limit=10**9)
    index.add(ids[:-500], codes[:-500])
    index.compact()
    index.add(ids[-500:], codes[-500:])
    dists = [distances(codes, q) for q in queries[:12]]
    for r in [*range(0, 25), 31, 40, 64]:
        assert_exact(index, ids, codes, queries[:12], r, dists)


def test_results_sorted_by_distance_then_id() -> None:
    rng = np.random.default_rng(4)
    q = rng.integers(0, 256, 32, dtype=np.uint8)
    codes = np.array([at_distance(q, d, rng) for d in (3, 1, 3, 0, 1, 3)])
    index = HammingIndex(256)
    index.add(np.array([50, -7, 12, 9, -100, 0]), codes)
    ids, dists = index.search(q, 5)
    assert ids.tolist() == [9, -100, -7, 0, 12, 50]
    assert dists.tolist() == [0, 1, 1, 3, 3, 3]


# --------------------------------------------------------------------------- liveness


@pytest.mark.parametrize("built", [False, True], ids=["pending", "built"])
def test_single_entry_index(built: bool) -> None:
    rng = np.random.default_rng(5)
    code = rng.integers(0, 256, 32, dtype=np.uint8)
    index = HammingIndex(256)
    index.add(np.array([42]), code[None])
    if built:
        index.compact()
        assert index.pending == 0
    assert len(index) == 1
    for r in (0, 31, 256):
        ids, dists = index.search(code, r)
        assert ids.tolist() == [42] and dists.tolist() == [0]
    near = spread(code, [4, 4, 4, 4, 4, 4, 4, 3], rng)
    assert index.search(near, 31)[0].tolist() == [42]
    assert index.search(near, 30)[0].tolist() == []


@pytest.mark.parametrize("built", [False, True], ids=["pending", "built"])
def test_remove_stops_matching_and_readd(built: bool) -> None:
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    index = HammingIndex(256)
    index.add(np.array([1, 2, 3]), codes)
    if built:
        index.compact()
    assert index.remove(np.array([2, 2, 99])) == 1
    assert index.search(codes[1], 0)[0].tolist() == []
    assert index.remove(np.array([2])) == 0
    assert len(index) == 2
    new = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    index.add(np.array([2]), new)
    assert index.search(new[0], 0)[0].tolist() == [2]
    assert index.search(codes[1], 10)[0].tolist() == []
    index.compact()
    assert index.search(new[0], 0)[0].tolist() == [2]
    assert index.remove(np.array([2])) == 1
    assert index.search(new[0], 31)[0].tolist() == []
    assert len(index) == 2


def test_add_rejects_duplicates_and_bad_input() -> None:
    index = HammingIndex(256)
    codes = np.zeros((2, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="duplicate"):
        index.add(np.array([1, 1]), codes)
    index.add(np.array([1, 2]), codes)
    with pytest.raises(ValueError, match="already"):
        index.add(np.array([3, 2]), codes)
    assert len(index) == 2
    with pytest.raises(ValueError):
        index.add(np.array([5]), np.zeros((1, 8), dtype=np.uint8))
    with pytest.raises(ValueError):
        index.add(np.array([5]), np.zeros((1, 32), dtype=np.int64))
    with pytest.raises(ValueError):
        index.search(np.zeros(32, dtype=np.uint8), -1)
    with pytest.raises(ValueError):
        HammingIndex(100)


@pytest.mark.parametrize("background", [True, False], ids=["background", "inline"])
def test_random_operations_match_model(background: bool) -> None:
    """Adds, removes, re-adds, auto-compaction and vacuum against a reference model."""
    rng = np.random.default_rng(8)
    index = HammingIndex(256, pending_limit=3000, background=background)
    model = Model(32)
    centres = rng.integers(0, 256, (30, 32), dtype=np.uint8)
    queries = np.array([at_distance(c, 5, rng) for c in centres[:10]])
    next_id = 0
    for step in range(12):
        k = int(rng.integers(500, 4000))
        picks = centres[rng.integers(0, 30, k)]
        codes = np.array([at_distance(c, int(rng.integers(0, 36)), rng) for c in picks])
        fresh = np.arange(next_id, next_id + k, dtype=np.int64)
        next_id += k
        known = np.array(sorted(model.codes), dtype=np.int64)
        gone = rng.choice(known, size=len(known) // 3, replace=False) if len(known) else known
        readd = gone[: len(gone) // 4]
        index.add(fresh, codes)
        model.add(fresh, codes)
        assert index.remove(gone) == model.remove(gone)
        index.add(readd, codes[: len(readd)])
        model.add(readd, codes[: len(readd)])
        if step % 4 == 3:
            index.compact()
            assert index.pending == 0
        assert_model(index, model, queries, int(rng.choice([8, 20, 31, 40])))


def test_auto_compaction_in_background() -> None:
    rng = np.random.default_rng(15)
    codes = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    index = HammingIndex(256, pending_limit=500)
    index.add(np.arange(2000), codes[:2000])  # a batch over the limit compacts inline
    assert index.pending == 0
    for i in range(2000, 3000, 10):  # small adds: compaction runs in a daemon thread
        index.add(np.arange(i, i + 10), codes[i : i + 10])
        assert index.search(codes[i + 9], 0)[0].tolist() == [i + 9]
    deadline = time.monotonic() + 30
    while index.pending > 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index.pending <= 500
    assert_exact(index, np.arange(3000), codes, codes[::97], 31)


def test_compaction_preserves_results_and_vacuums() -> None:
    rng = np.random.default_rng(9)
    ids, codes, queries = planted_dataset(rng, 32, 20000, clustered=True)
    index = HammingIndex(256, pending_limit=10**9)
    index.add(ids, codes)
    before = index.search_batch(queries, 31)
    index.compact()
    after = index.search_batch(queries, 31)
    for (bi, bd), (ai, ad) in zip(before, after, strict=True):
        np.testing.assert_array_equal(bi, ai)
        np.testing.assert_array_equal(bd, ad)
    gone = rng.choice(ids, size=len(ids) // 2, replace=False)
    assert index.remove(gone) == len(gone)
    live = ~np.isin(ids, gone)
    assert_exact(index, ids[live], codes[live], queries, 31)
    assert index._view.n_total == len(ids)
    index.compact()  # half the slots are tombstones: vacuum renumbers and rebuilds
    assert index._view.n_total == len(index) == live.sum()
    assert_exact(index, ids[live], codes[live], queries, 31)
    index.compact()  # nothing to do
    assert_exact(index, ids[live], codes[live], queries, 20)


def test_wide_slot_tables_match() -> None:
    """Tables past 2**24 slots store 2 high slot bytes; force that layout on a small index."""
    rng = np.random.default_rng(10)
    ids, codes, queries = planted_dataset(rng, 32, 5000, clustered=False)
    index = HammingIndex(256, pending_limit=10**9)
    index.add(ids[:3000], codes[:3000])
    index.compact()
    index._widen(2)
    index.add(ids[3000:], codes[3000:])
    index.compact()
    assert index._view.hb == 2
    assert_exact(index, ids, codes, queries, 31)


# --------------------------------------------------------------------------- concurrency


def test_concurrent_search_while_compacting() -> None:
    """Two threads search while the main thread adds far-away codes and compacts in the
    background three times; every result must stay exact throughout."""
    rng = np.random.default_rng(11)
    ids, codes, queries = planted_dataset(rng, 32, 60000, clustered=False)
    index = HammingIndex(256, pending_limit=10**9)
    index.add(ids[:40000], codes[:40000])
    index.compact()
    index.add(ids[40000:], codes[40000:])
    expected = [brute(ids, codes, q, 31) for q in queries]
    errors: list[str] = []
    rounds = [0, 0]
    stop = threading.Event()

    def searcher(k: int) -> None:
        while not stop.is_set():
            for (gi, gd), (ei, ed) in zip(index.search_batch(queries, 31), expected, strict=True):
                if not (np.array_equal(gi, ei) and np.array_equal(gd, ed)):
                    errors.append(f"thread {k} round {rounds[k]}")
            rounds[k] += 1

    threads = [threading.Thread(target=searcher, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for step in range(3):
        far = rng.integers(0, 256, (40000, 32), dtype=np.uint8)  # P(d <= 31) ~ 1e-20
        index.add(np.arange(40000) + 10**9 * (step + 1), far)
        compactor = threading.Thread(target=index.compact)
        before = sum(rounds)
        compactor.start()
        compactor.join()
        assert index.pending == 0
    while sum(rounds) < before + 4:
        stop.wait(0.01)
    stop.set()
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    assert len(index) == len(ids) + 3 * 40000


def test_adds_and_removes_during_background_compaction() -> None:
    rng = np.random.default_rng(12)
    codes = rng.integers(0, 256, (120000, 32), dtype=np.uint8)
    index = HammingIndex(256, pending_limit=10**9)
    index.add(np.arange(100000), codes[:100000])
    compactor = threading.Thread(target=index.compact)
    compactor.start()
    index.add(np.arange(100000, 120000), codes[100000:])
    assert index.search(codes[110000], 0)[0].tolist() == [110000]
    assert index.remove(np.arange(0, 100000, 2)) == 50000
    assert index.search(codes[2], 0)[0].tolist() == []
    compactor.join()
    index.compact()
    live = np.r_[np.arange(1, 100000, 2), np.arange(100000, 120000)]
    assert len(index) == len(live)
    assert_exact(index, live, codes[live], codes[::4000], 31)


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    ids, codes, queries = planted_dataset(rng, 32, 10000, clustered=True)
    index = HammingIndex(256, pending_limit=10**9)
    index.add(ids[:8000], codes[:8000])
    index.compact()
    index.add(ids[8000:], codes[8000:])
    index.remove(ids[::5])
    path = tmp_path / "index.mih"
    index.save(path)
    loaded = HammingIndex.load(path)
    assert len(loaded) == len(index) and loaded.pending == index.pending
    live = np.ones(len(ids), bool)
    live[::5] = False
    for r in (0, 17, 31, 45):
        assert_exact(loaded, ids[live], codes[live], queries, r)
    loaded.add(ids[::5], codes[::5])
    loaded.compact()
    assert_exact(loaded, ids, codes, queries, 31)


def test_save_load_empty_and_64_bit(tmp_path: Path) -> None:
    path = tmp_path / "empty.mih"
    HammingIndex(64).save(path)
    loaded = HammingIndex.load(path)
    assert loaded.nbits == 64 and len(loaded) == 0
    assert loaded.search(np.zeros(8, np.uint8), 64)[0].tolist() == []
    loaded.add(np.array([3]), np.ones((1, 8), np.uint8))
    assert loaded.search(np.ones(8, np.uint8), 0)[0].tolist() == [3]


def _saved(tmp_path: Path) -> bytes:
    index = HammingIndex(256)
    index.add(np.arange(100), np.random.default_rng(14).integers(0, 256, (100, 32), np.uint8))
    index.compact()
    path = tmp_path / "good.mih"
    index.save(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated-body"),
        pytest.param(lambda b: b[:40], id="truncated-header"),
        pytest.param(lambda b: b[:5], id="truncated-magic"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"\x93NUMPY" + b[6:], id="wrong-magic"),
        pytest.param(lambda b: b[:8] + (2).to_bytes(4, "little") + b[12:], id="wrong-version"),
        pytest.param(lambda b: b[:16] + b"#" + b[17:], id="bad-header"),
        pytest.param(lambda b: b[:16] + b'{"nbits": 256}' + b[30:], id="missing-fields"),
        pytest.param(lambda b: b + b"\0" * 64, id="trailing-bytes"),
    ],
)
def test_bad_files_raise_index_file_error(
    tmp_path: Path, corrupt: Callable[[bytes], bytes]
) -> None:
    data = corrupt(_saved(tmp_path))
    path = tmp_path / "bad.mih"
    path.write_bytes(data)
    with pytest.raises(IndexFileError):
        HammingIndex.load(path)
    assert issubclass(IndexFileError, ValueError)


def test_out_of_range_slot_in_file_is_rejected(tmp_path: Path) -> None:
    data = bytearray(_saved(tmp_path))
    size = int.from_bytes(data[12:16], "little")
    header = json.loads(data[16 : 16 + size])
    start = -(-(16 + size) // 64) * 64
    table = next(e for e in header["sections"] if e["name"] == "table15")
    data[start + table["offset"] + table["shape"][0] - 1] = 0xFF  # a high slot byte
    path = tmp_path / "bad.mih"
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="out of range"):
        HammingIndex.load(path)
