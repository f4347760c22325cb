"""Decide whether a query video (or still) shows a registered video, and where.

Both shares are reported, because each answers a different case:

* the **query share** is the part of the query's duration that matches: an
  excerpt of the registered video has a high query share and a low registered one;
* the **registered share** is the part of the registered video's duration
  found in the query: the victim's clip inside a longer re-upload has a high
  registered share and a low query share.

vPDQ's README asks for the *registered* (compared) share to reach 80 %, while
python-threatexchange defaults to the *query* share; each misses one of the
two cases above. The rule here (:class:`Rule`) is:

1. Only frames of PDQ quality at least ``quality`` count, on both sides, and
   shares are shares of duration (a still shot of ten seconds weighs ten).
2. A frame pair matches when their PDQ distance is at most ``distance``, under
   one transform of the query (mirror, rotation, motion-box crop; see
   :mod:`.query`) used for the whole query.
3. The pairs must agree on one timeline ``registered = speed * query + offset``
   (speeds in ``speeds``, within ``tolerance`` seconds): a video is a sequence,
   and chance frame matches do not line up.
4. It is a match when at least ``min_frames`` distinct registered frames line
   up (fewer only if the registered video has fewer) and the larger of the two
   shares is at least ``share``. The query is sampled at every frame and the
   registration once a second, so the query share counts the query frames that
   land, on the alignment, on the time range of a matched registered frame.

A registered frame carries the PDQ of its centre crops too (90 % and 80 %),
so a cropped re-post lines up against those. A one-frame query (a still)
matches when a registered frame is within ``distance`` under one of its
transforms, or within ``still_distance`` with its neighbour in time within
``still_distance + 16`` (a screenshot taken between two samples). The match
reports the time ranges on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from empreinte.hashing.video.frames import FrameSignal, pack
from empreinte.hashing.video.query import QueryVideo

SPEEDS: Final = (0.5, 2 / 3, 0.8, 1.0, 1.25, 1.5, 2.0)
_BIN: Final = 0.5
_CHUNK: Final = 1 << 18
_SLACK: Final = 0.25


@dataclass(frozen=True, slots=True)
class Rule:
    """The thresholds of the match rule (see the module docstring)."""

    distance: int = 31
    still_distance: int = 48
    quality: int = 50
    share: float = 0.5
    min_frames: int = 2
    tolerance: float = 1.0
    speeds: tuple[float, ...] = field(default=SPEEDS)


@dataclass(frozen=True, slots=True)
class VideoMatch:
    """The outcome of one comparison, matched or not."""

    matched: bool
    query_share: float
    registered_share: float
    query_range: tuple[float, float] | None
    registered_range: tuple[float, float] | None
    frames: int
    """Distinct registered frames found on the alignment."""
    transform: int
    speed: float


NO_MATCH: Final = VideoMatch(False, 0.0, 0.0, None, None, 0, -1, 0.0)


@dataclass(frozen=True, slots=True)
class _Side:
    """Rows of hashes (``(n, transforms, 32)`` or ``(n, 32)``), each of one frame."""

    hashes: np.ndarray
    frame: np.ndarray
    """Row -> frame index (a registered frame has a row per crop hash)."""
    fstart: np.ndarray
    fend: np.ndarray

    @property
    def start(self) -> np.ndarray:
        out: np.ndarray = self.fstart[self.frame]
        return out

    @property
    def end(self) -> np.ndarray:
        out: np.ndarray = self.fend[self.frame]
        return out

    @property
    def fweight(self) -> np.ndarray:
        out: np.ndarray = np.maximum(self.fend - self.fstart, 1e-3)
        return out


def compare(
    registered: Sequence[FrameSignal], query: QueryVideo, rule: Rule = Rule()
) -> VideoMatch:
    """Compare a query with a registered video's frame signals under ``rule``."""
    reg = _registered(registered, rule)
    qry = _query(query, rule)
    if reg is None or qry is None:
        return NO_MATCH
    best = NO_MATCH
    for t in range(qry.hashes.shape[1]):
        dist = distances(qry.hashes[:, t], reg.hashes)
        if qry.hashes.shape[0] == 1:
            found = _still(reg, dist, t, rule)
            if _better(found, best):
                best = found
            continue
        qi, ri = np.nonzero(dist <= rule.distance)
        if qi.size == 0:
            continue
        found = _aligned(reg, qry, qi, ri, t, rule)
        if _better(found, best):
            best = found
    return best


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the ``(len(a), len(b))`` Hamming distances of two ``(n, 32)`` uint8 arrays."""
    wa = np.ascontiguousarray(a).view(np.uint64)
    wb = np.ascontiguousarray(b).view(np.uint64)
    out = np.empty((wa.shape[0], wb.shape[0]), np.int32)
    step = max(1, _CHUNK // max(1, wb.shape[0]))
    for i in range(0, wa.shape[0], step):
        xor = wa[i : i + step, None, :] ^ wb[None, :, :]
        out[i : i + step] = np.bitwise_count(xor).sum(axis=2, dtype=np.int32)
    return out


def _registered(frames: Sequence[FrameSignal], rule: Rule) -> _Side | None:
    good = [f for f in frames if f.quality >= rule.quality]
    if not good:
        return None
    rows = [(i, h) for i, f in enumerate(good) for h in f.hashes]
    return _Side(
        pack(h for _, h in rows),
        np.array([i for i, _ in rows], np.int64),
        np.array([f.start for f in good]),
        np.array([f.end for f in good]),
    )


def _query(query: QueryVideo, rule: Rule) -> _Side | None:
    good = [f for f in query.frames if f.quality >= rule.quality]
    if not good:
        return None
    return _Side(
        np.stack([f.hashes for f in good]),
        np.arange(len(good)),
        np.array([f.start for f in good]),
        np.array([f.end for f in good]),
    )


def _still(reg: _Side, dist: np.ndarray, t: int, rule: Rule) -> VideoMatch:
    """A one-frame query: a registered frame within ``distance``, or two neighbours close.

    A screenshot taken between two registered samples (one a second) can be
    farther than ``distance`` from both; it still matches when the nearest is
    within ``still_distance`` and the frame next to it in time within
    ``still_distance + 16``.
    """
    nearest = np.full(reg.fstart.size, 256, np.int32)
    np.minimum.at(nearest, reg.frame, dist[0])
    best = int(np.argmin(nearest))
    close = [best] if nearest[best] <= rule.distance else []
    if not close and nearest[best] <= rule.still_distance:
        beside = [i for i in (best - 1, best + 1) if 0 <= i < nearest.size]
        if any(nearest[i] <= rule.still_distance + 16 for i in beside):
            close = [best]
    if not close:
        return NO_MATCH
    share = float(reg.fweight[best] / reg.fweight.sum())
    span = (float(reg.fstart[best]), float(reg.fend[best]))
    return VideoMatch(True, 1.0, round(share, 4), (0.0, 0.0), span, 1, t, 1.0)


def _aligned(
    reg: _Side, qry: _Side, qi: np.ndarray, ri: np.ndarray, t: int, rule: Rule
) -> VideoMatch:
    best = NO_MATCH
    for speed in rule.speeds:
        lo = reg.start[ri] - speed * qry.end[qi] - rule.tolerance
        hi = reg.end[ri] - speed * qry.start[qi] + rule.tolerance
        offset = _best_offset(lo, hi, qi, qry.fweight)
        keep = (lo <= offset) & (offset <= hi)
        found = _shares(reg, qry, qi[keep], ri[keep], t, speed, rule)
        if _better(found, best):
            best = found
    return best


def _best_offset(lo: np.ndarray, hi: np.ndarray, qi: np.ndarray, weight: np.ndarray) -> float:
    """Return the offset covered by the heaviest set of distinct query frames."""
    origin = float(lo.min())
    first = ((lo - origin) / _BIN).astype(np.int64)
    last = ((hi - origin) / _BIN).astype(np.int64)
    n_bins = int(last.max()) + 2
    rows = np.unique(qi)
    row_of = np.searchsorted(rows, qi)
    diff = np.zeros((rows.size, n_bins + 1), np.int32)
    np.add.at(diff, (row_of, first), 1)
    np.add.at(diff, (row_of, last + 1), -1)
    covered = np.cumsum(diff, axis=1)[:, :n_bins] > 0
    score = weight[rows] @ covered
    return origin + (int(np.argmax(score)) + 0.5) * _BIN


def _shares(
    reg: _Side, qry: _Side, qi: np.ndarray, ri: np.ndarray, t: int, speed: float, rule: Rule
) -> VideoMatch:
    """Shares and ranges of one alignment; ``qi``, ``ri`` are its consistent pairs (rows)."""
    if qi.size == 0:
        return NO_MATCH
    r_frames = np.unique(reg.frame[ri])
    offset = float(np.median(reg.start[ri] - speed * qry.start[qi]))
    covered = _covered(reg, qry, r_frames, speed, offset)
    q_share = float(qry.fweight[covered].sum() / qry.fweight.sum())
    r_share = float(reg.fweight[r_frames].sum() / reg.fweight.sum())
    enough = r_frames.size >= min(rule.min_frames, reg.fstart.size)
    q_rows = np.flatnonzero(covered)
    if q_rows.size == 0:
        q_rows = np.unique(qi)
    return VideoMatch(
        bool(enough and max(q_share, r_share) >= rule.share),
        round(q_share, 4),
        round(r_share, 4),
        (float(qry.fstart[q_rows].min()), float(qry.fend[q_rows].max())),
        (float(reg.fstart[r_frames].min()), float(reg.fend[r_frames].max())),
        int(r_frames.size),
        t,
        speed,
    )


def _covered(
    reg: _Side, qry: _Side, r_frames: np.ndarray, speed: float, offset: float
) -> np.ndarray:
    """Mark the query frames whose mapped time falls on a matched registered frame.

    The query is sampled more densely than the registration (every frame
    against one a second), so most query frames sit between two registered
    samples: a query frame counts as matched when, on the alignment, its
    middle lands within :data:`_SLACK` seconds of the time range of a matched
    registered frame.
    """
    middle = speed * (qry.fstart + qry.fend) / 2 + offset
    r_lo = reg.fstart[r_frames] - _SLACK
    r_hi = reg.fend[r_frames] + _SLACK
    hit = (middle[:, None] >= r_lo[None, :]) & (middle[:, None] <= r_hi[None, :])
    out: np.ndarray = hit.any(axis=1)
    return out


def _better(a: VideoMatch, b: VideoMatch) -> bool:
    return (a.matched, max(a.query_share, a.registered_share), a.frames) > (
        b.matched,
        max(b.query_share, b.registered_share),
        b.frames,
    )


def vpdq_rule(
    registered: Sequence[FrameSignal],
    query: QueryVideo,
    *,
    distance: int = 31,
    quality: int = 50,
    query_share: float = 0.8,
    compared_share: float = 0.8,
) -> tuple[bool, float, float]:
    """vPDQ's rule on the same frame hashes (identity transform only), for baselines.

    The share of query frames with any registered frame within ``distance``,
    and the share of registered frames with any query frame within it, by
    frame count as vPDQ counts; a match needs both shares (README rule).
    """
    reg = [f for f in registered if f.quality >= quality]
    qry = [f for f in query.frames if f.quality >= quality]
    if not reg or not qry:
        return False, 0.0, 0.0
    dist = distances(np.stack([f.hashes[0] for f in qry]), pack(f.pdq for f in reg))
    close = dist <= distance
    q = float(close.any(axis=1).mean())
    c = float(close.any(axis=0).mean())
    return q >= query_share and c >= compared_share, q, c
