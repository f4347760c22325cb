"""Keep one index per signal, fed by the registry's change log, and snapshot it to disk.

The database is the one source of truth. A :class:`LiveIndex` only applies the
changes it is given, in ``seq`` order, and remembers the last ``seq`` applied:
a snapshot plus the changes after it is the whole state, so a crash between a
commit and a snapshot loses nothing. Perceptual signals go into a
:class:`~empreinte.index.mih.HammingIndex`; exact digests into a dictionary.

Snapshot layout (a folder, replaced atomically): ``manifest.json`` with the
format version, the ``seq`` and the list of signals, then one file per signal
(``<signal>.idx`` in the HammingIndex layout, ``<signal>.npz`` for digests) and the
folder of local features with their descriptor index (``orb-index/``, memory-mapped
when loaded).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from empreinte.errors import SignalError
from empreinte.hashing.robust.features import LocalFeatures
from empreinte.hashing.robust.matcher import Match as RobustMatch
from empreinte.hashing.robust.matcher import QueryFeatures
from empreinte.hashing.signals import SignalType
from empreinte.index.descriptors import warm_up as warm_up_descriptors
from empreinte.index.mih import HammingIndex, IndexFileError
from empreinte.index.robust import RobustMatcher

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT: Final = "empreinte-index-snapshot"
SNAPSHOT_VERSION: Final = 1
FEATURES_FOLDER: Final = "orb-index"
"""Local features and their descriptor index (:meth:`RobustMatcher.save`); snapshots
before it held an ``orb.npz`` of features that a load filed again."""


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the change log: a hash value became matchable, or stopped."""

    seq: int
    op: str
    signal: str
    hash_id: int
    value: bytes
    payload: bytes | None = None
    """The local features of an ``orb`` add (the value is only their digest)."""

    @property
    def erased(self) -> bool:
        """An add whose value was erased since (its removal follows in the log)."""
        return self.op == "add" and not self.value

    def problem(self) -> str | None:
        """Say why this change cannot be applied (a corrupt row), or return None."""
        if self.op not in ("add", "remove"):
            return f"unknown operation {self.op!r}"
        if self.signal == SignalType.ORB:
            if self.op == "add" and not self.payload:
                return "local features without their data"
            return None
        try:
            kind = SignalType(self.signal)
        except ValueError:
            return f"unknown signal {self.signal!r}"
        if self.op == "add" and len(self.value) * 8 != kind.nbits:
            return f"{kind} value of {len(self.value)} bytes"
        return None


@dataclass(frozen=True, slots=True)
class Hit:
    """A registered hash value within the radius of a query."""

    hash_id: int
    signal: SignalType
    distance: int


class _ExactIndex:
    """Exact lookup of cryptographic digests."""

    def __init__(self) -> None:
        self.by_value: dict[bytes, set[int]] = {}
        self.value_of: dict[int, bytes] = {}

    def add(self, hash_id: int, value: bytes) -> None:
        self.remove(hash_id)
        self.by_value.setdefault(value, set()).add(hash_id)
        self.value_of[hash_id] = value

    def remove(self, hash_id: int) -> None:
        value = self.value_of.pop(hash_id, None)
        if value is not None:
            ids = self.by_value[value]
            ids.discard(hash_id)
            if not ids:
                del self.by_value[value]

    def lookup(self, value: bytes) -> list[int]:
        return sorted(self.by_value.get(value, ()))

    def __len__(self) -> int:
        return len(self.value_of)


class LiveIndex:
    """All signals' indexes, at one position (``seq``) of the change log."""

    def __init__(self) -> None:
        self.seq = 0
        self._hamming: dict[SignalType, HammingIndex] = {}
        self._exact: dict[SignalType, _ExactIndex] = {}
        self.robust = RobustMatcher()
        self._lock = threading.Lock()

    def apply(self, changes: Iterable[Change]) -> int:
        """Apply changes after ``seq`` in order; return how many were applied."""
        applied = 0
        with self._lock:
            batch: list[Change] = []
            last = self.seq
            for change in changes:
                if change.seq <= self.seq:
                    continue
                last = change.seq
                if change.erased:
                    continue
                problem = change.problem()
                if problem is not None:
                    log.warning("skipped a corrupt change (seq %d): %s", change.seq, problem)
                    continue
                batch.append(change)
            for group in _runs(batch):
                self._apply_run(group)
                applied += len(group)
            self.seq = last
        return applied

    def _apply_run(self, run: list[Change]) -> None:
        """Apply consecutive changes of one op and one signal together."""
        first = run[0]
        if first.signal == SignalType.ORB:
            self._apply_features(run)
            return
        kind = SignalType(first.signal)
        if kind.perceptual:
            index = self._hamming.get(kind)
            if index is None:
                index = self._hamming[kind] = HammingIndex(kind.nbits)
            ids = np.fromiter((c.hash_id for c in run), dtype=np.int64, count=len(run))
            if first.op == "add":
                index.remove(ids)
                codes = np.frombuffer(b"".join(c.value for c in run), dtype=np.uint8)
                index.add(ids, codes.reshape(len(run), -1))
            else:
                index.remove(ids)
            return
        exact = self._exact.setdefault(kind, _ExactIndex())
        for change in run:
            if change.op == "add":
                exact.add(change.hash_id, change.value)
            else:
                exact.remove(change.hash_id)

    def _apply_features(self, run: list[Change]) -> None:
        for change in run:
            key = str(change.hash_id)
            if change.op == "add" and change.payload is not None:
                try:
                    features = LocalFeatures.from_bytes(change.payload)
                except SignalError as exc:
                    log.warning("skipped corrupt local features (seq %d): %s", change.seq, exc)
                    continue
                self.robust.add(key, features)
            else:
                self.robust.remove(key)

    def search(self, signal: SignalType, value: bytes, radius: int) -> list[Hit]:
        """Return the registered values of ``signal`` within ``radius`` of ``value``."""
        if not signal.perceptual:
            exact = self._exact.get(signal)
            found = exact.lookup(value) if exact is not None else []
            return [Hit(i, signal, 0) for i in found]
        index = self._hamming.get(signal)
        if index is None or len(index) == 0:
            return []
        code = np.frombuffer(value, dtype=np.uint8)
        ids, distances = index.search(code, radius)
        return [Hit(int(i), signal, int(d)) for i, d in zip(ids, distances, strict=True)]

    def search_features(self, features: QueryFeatures, shape: tuple[int, int]) -> list[RobustMatch]:
        """Match a query's local features; each match's id is an ``orb`` hash id."""
        if len(self.robust) == 0:
            return []
        return self.robust.match_features(features, shape)

    def size(self, signal: SignalType) -> int:
        if signal is SignalType.ORB:
            return len(self.robust)
        index: HammingIndex | _ExactIndex | None = self._hamming.get(signal) or self._exact.get(
            signal
        )
        return len(index) if index is not None else 0

    def warm_up(self) -> None:
        """Compile the search kernels now, so the first real query does not pay for it."""
        for kind in (SignalType.PDQ, SignalType.PHASH):
            index = HammingIndex(kind.nbits)
            index.add(np.array([1], dtype=np.int64), np.ones((1, kind.nbits // 8), dtype=np.uint8))
            index.search(np.zeros(kind.nbits // 8, dtype=np.uint8), 31)
            index.compact()
            index.search(np.zeros(kind.nbits // 8, dtype=np.uint8), 31)
        warm_up_descriptors()

    def compact(self) -> None:
        """Merge pending adds and drop tombstones in every Hamming index."""
        for index in list(self._hamming.values()):
            index.compact()

    def save(self, folder: Path) -> None:
        """Write a snapshot to ``folder`` atomically."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with self._lock:
            for signal, index in self._hamming.items():
                index.save(tmp / f"{signal}.idx")
            for signal, exact in self._exact.items():
                ids = np.fromiter(exact.value_of, dtype=np.int64, count=len(exact))
                values = np.frombuffer(b"".join(exact.value_of.values()), dtype=np.uint8)
                np.savez(tmp / f"{signal}.npz", ids=ids, values=values.reshape(len(ids), -1))
            registered = len(self.robust) > 0
            if registered:
                self.robust.save(tmp / FEATURES_FOLDER)
            manifest = {
                "format": SNAPSHOT_FORMAT,
                "version": SNAPSHOT_VERSION,
                "seq": self.seq,
                "hamming": sorted(str(s) for s in self._hamming),
                "exact": sorted(str(s) for s in self._exact),
                "features": FEATURES_FOLDER if registered else False,
            }
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LiveIndex:
        """Read a snapshot; raise :class:`IndexFileError` if it is damaged or foreign."""
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"no readable snapshot manifest in {folder}: {exc}") from exc
        if manifest.get("format") != SNAPSHOT_FORMAT or manifest.get("version") != SNAPSHOT_VERSION:
            raise IndexFileError(f"snapshot in {folder} is of another format or version")
        live = cls()
        live.seq = int(manifest["seq"])
        try:
            for name in manifest["hamming"]:
                live._hamming[SignalType(name)] = HammingIndex.load(folder / f"{name}.idx")
            for name in manifest["exact"]:
                exact = _ExactIndex()
                with np.load(folder / f"{name}.npz") as arrays:
                    for hash_id, value in zip(arrays["ids"], arrays["values"], strict=True):
                        exact.add(int(hash_id), value.tobytes())
                live._exact[SignalType(name)] = exact
            if manifest.get("features") == FEATURES_FOLDER:
                live.robust = RobustMatcher.load(folder / FEATURES_FOLDER)
            elif manifest.get("features"):  # an older snapshot: features filed again
                with np.load(folder / "orb.npz") as arrays:
                    ids, offsets, data = arrays["ids"], arrays["offsets"], arrays["data"]
                for i, hash_id in enumerate(ids):
                    blob = data[offsets[i] : offsets[i + 1]].tobytes()
                    live.robust.add(str(int(hash_id)), LocalFeatures.from_bytes(blob))
        except (OSError, ValueError, KeyError, SignalError) as exc:
            raise IndexFileError(f"snapshot in {folder} is damaged: {exc}") from exc
        return live


def _runs(changes: list[Change]) -> Iterable[list[Change]]:
    """Split changes into maximal runs of the same op and signal, keeping order."""
    run: list[Change] = []
    for change in changes:
        if run and (change.op != run[0].op or change.signal != run[0].signal):
            yield run
            run = []
        run.append(change)
    if run:
        yield run
