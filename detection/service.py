"""Match queries against the registry: candidates from the index, decision from the database.

This is the one matching use case, shared by the platform endpoint and the
crawler. For an image it gathers three kinds of evidence:

* PDQ of the whole image with its 8 dihedral variants, and SHA-256 / MD5;
* PDQ of each proposed region (the photo inside a screenshot, a chat bubble,
  a story with blurred fill, a collage cell), so crops and frames still match;
* local features (ORB) verified geometrically, for crops, rotations and
  screenshots where no region lines up with the original.

A video (:func:`match_video`) is looked up frame by frame in the same PDQ
index, since a registered video's frames are ``pdq`` values; its candidates
are then compared frame against frame in time (:mod:`empreinte.hashing.video.compare`).
A still image whose PDQ meets a registered frame finds the video, with the
frame's time range.

The index proposes candidates; the database confirms that each one still
belongs to an active case before it is reported, so a withdrawn hash never
leaks into results even if an index lags behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from sqlalchemy.orm import Session

from empreinte.hashing.decode import Limits, decode
from empreinte.hashing.pdq import pdq_dihedral_from_rgb, pdq_from_rgb
from empreinte.hashing.robust.matcher import QueryFeatures, query_features
from empreinte.hashing.robust.regions import Box, propose
from empreinte.hashing.signals import SignalType
from empreinte.hashing.video.compare import Rule, compare
from empreinte.hashing.video.query import QueryVideo
from empreinte.index.live import LiveIndex
from empreinte.store import models as m
from empreinte.store.registry import fingerprints_of_hashes, frame_ranges, video_frames

DEFAULT_THRESHOLDS: Final[Mapping[SignalType, int]] = {
    kind: kind.spec.radius for kind in SignalType if kind.hashed
}
MIN_REGION_QUALITY: Final = 50
DEFAULT_RULE: Final = Rule()


@dataclass(frozen=True, slots=True)
class Query:
    """One hash value to look up; ``index`` is its position in the caller's request."""

    signal: SignalType
    value: bytes
    index: int = 0
    box: Box | None = None
    region: bool = False
    """A guess at where a photo sits inside the query: held to a stricter threshold."""


@dataclass(frozen=True, slots=True)
class ImageQuery:
    """What an uploaded or crawled image yields: hash queries and local features, no pixels.

    It is small (about 50 KB) and can cross processes: the crawler computes it
    in a pool of hashing processes and matches it in its worker.
    """

    queries: list[Query]
    features: QueryFeatures
    shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Match:
    """A registered fingerprint found for a query, with the evidence."""

    match_id: str
    fingerprint_id: str
    signal: str
    distance: int | None
    """Bits apart, for a hash signal; None for local features, whose evidence is ``inliers``."""
    confidence: float
    query: int
    box: Box | None = None
    inliers: int | None = None
    """Geometrically verified feature matches, for local features; None for hashes."""
    query_share: float | None = None
    """For a registered video: the share of the query's duration that matched."""
    registered_share: float | None = None
    """For a registered video: the share of its duration found in the query."""
    query_range: tuple[float, float] | None = None
    """For a registered video: the seconds of the query that matched."""
    registered_range: tuple[float, float] | None = None
    """For a registered video: the seconds of it that were found."""


@dataclass(frozen=True, slots=True)
class _Evidence:
    hash_id: int
    signal: str
    distance: int | None
    confidence: float
    query: int
    box: Box | None
    inliers: int | None = None
    registered_range: tuple[float, float] | None = None


def prepare_image(data: bytes, limits: Limits, *, dihedral: bool = True) -> ImageQuery:
    """Hash an image in memory into everything to look up; the bytes are not kept."""
    rgb = decode(data, limits).rgb
    if dihedral:
        variants, _ = pdq_dihedral_from_rgb(rgb)
    else:
        variants = [pdq_from_rgb(rgb)[0]]
    height, width = rgb.shape[:2]
    whole: Box = (0, 0, width, height)
    queries = [Query(SignalType.PDQ, value, box=whole) for value in dict.fromkeys(variants)]
    queries.append(Query(SignalType.SHA256, hashlib.sha256(data).digest(), box=whole))
    queries.append(
        Query(SignalType.MD5, hashlib.md5(data, usedforsecurity=False).digest(), box=whole)
    )
    regions = propose(rgb)
    for box in regions[1:]:
        x, y, w, h = box
        value, quality = pdq_from_rgb(np.ascontiguousarray(rgb[y : y + h, x : x + w]))
        if quality >= MIN_REGION_QUALITY:
            queries.append(Query(SignalType.PDQ, value, box=box, region=True))
    return ImageQuery(queries, query_features(rgb), (height, width))


def match_queries(
    session: Session,
    live: LiveIndex,
    queries: Sequence[Query],
    *,
    thresholds: Mapping[SignalType, int] = DEFAULT_THRESHOLDS,
    source: str = "platform",
    organisation_id: int | None = None,
) -> list[Match]:
    """Find registered fingerprints near each hash query, and record each match as an event."""
    evidence = _hash_evidence(live, queries, thresholds)
    return _decide(session, evidence, source=source, organisation_id=organisation_id)


def match_image(
    session: Session,
    live: LiveIndex,
    image: ImageQuery,
    *,
    thresholds: Mapping[SignalType, int] = DEFAULT_THRESHOLDS,
    source: str = "platform",
    organisation_id: int | None = None,
) -> list[Match]:
    """Find registered fingerprints in an image by hashes, regions and local features."""
    evidence = _hash_evidence(live, image.queries, thresholds)
    for found in live.search_features(image.features, image.shape):
        evidence.append(
            _Evidence(
                hash_id=int(found.key),
                signal=SignalType.ORB,
                distance=None,
                confidence=found.confidence,
                query=0,
                box=found.box,
                inliers=found.inliers,
            )
        )
    return _decide(session, evidence, source=source, organisation_id=organisation_id)


def _hash_evidence(
    live: LiveIndex, queries: Sequence[Query], thresholds: Mapping[SignalType, int]
) -> list[_Evidence]:
    evidence = []
    for query in queries:
        spec = query.signal.spec
        radius = thresholds.get(query.signal, spec.radius)
        if query.region:
            radius = min(radius, spec.region_radius)
        for hit in live.search(query.signal, query.value, radius):
            evidence.append(
                _Evidence(
                    hash_id=hit.hash_id,
                    signal=hit.signal.value,
                    distance=hit.distance,
                    confidence=hit.signal.spec.confidence(hit.distance),
                    query=query.index,
                    box=query.box,
                )
            )
    return evidence


def _rank(item: _Evidence) -> tuple[bool, float]:
    return SignalType(item.signal).hashed, item.confidence


def _decide(
    session: Session,
    evidence: list[_Evidence],
    *,
    source: str,
    organisation_id: int | None,
) -> list[Match]:
    """Keep, per query and fingerprint of an active case, the strongest evidence; record it.

    A hash match (a digest, or PDQ of the image or of a region) is preferred to a
    local-features match of the same fingerprint: it is the evidence platforms and
    reviewers know, and the only kind a policy may approve without review.
    """
    if not evidence:
        return []
    owners = fingerprints_of_hashes(session, (e.hash_id for e in evidence))
    best: dict[tuple[int, str], _Evidence] = {}
    for item in evidence:
        for fingerprint_id in owners.get(item.hash_id, ()):
            key = (item.query, fingerprint_id)
            current = best.get(key)
            if current is None or _rank(item) > _rank(current):
                best[key] = item
    spans = _frame_spans(session, evidence, owners)
    matches = [
        Match(
            match_id=str(uuid.uuid4()),
            fingerprint_id=fingerprint_id,
            signal=item.signal,
            distance=item.distance,
            confidence=item.confidence,
            query=query_index,
            box=item.box,
            inliers=item.inliers,
            registered_range=spans.get((query_index, fingerprint_id)),
        )
        for (query_index, fingerprint_id), item in sorted(best.items())
    ]
    _record(session, matches, source=source, organisation_id=organisation_id)
    return matches


def _frame_spans(
    session: Session, evidence: list[_Evidence], owners: Mapping[int, list[str]]
) -> dict[tuple[int, str], tuple[float, float]]:
    """Map (query, registered video) to the time range of its nearest frame among the hits.

    A still whose strongest evidence is local features still gets the time of
    the frame its PDQ met, when it met one.
    """
    ranges = frame_ranges(session, (e.hash_id for e in evidence if e.distance is not None))
    nearest: dict[tuple[int, str], tuple[int, tuple[float, float]]] = {}
    for item in evidence:
        if item.distance is None:
            continue
        for fingerprint_id in owners.get(item.hash_id, ()):
            span = ranges.get((item.hash_id, fingerprint_id))
            key = (item.query, fingerprint_id)
            if span is not None and (key not in nearest or item.distance < nearest[key][0]):
                nearest[key] = (item.distance, span)
    return {key: span for key, (_, span) in nearest.items()}


def match_video(
    session: Session,
    live: LiveIndex,
    video: QueryVideo,
    *,
    rule: Rule = DEFAULT_RULE,
    source: str = "platform",
    organisation_id: int | None = None,
) -> list[Match]:
    """Find registered videos in a query video (or a still hashed as one), with time ranges.

    Every transform hash of every query frame is looked up in the PDQ index;
    the hits are grouped by registered video (of a live case only), whose
    frames and times come from the database, and :func:`compare` decides.
    """
    hash_ids = _frame_hits(live, video, rule)
    owners = fingerprints_of_hashes(session, hash_ids)
    candidates = sorted({f for ids in owners.values() for f in ids})
    matches = []
    for fingerprint_id, frames in video_frames(session, candidates).items():
        found = compare(frames, video, rule)
        if not found.matched:
            continue
        matches.append(
            Match(
                match_id=str(uuid.uuid4()),
                fingerprint_id=fingerprint_id,
                signal=SignalType.PDQ.value,
                distance=None,
                confidence=round(max(found.query_share, found.registered_share), 4),
                query=0,
                query_share=found.query_share,
                registered_share=found.registered_share,
                query_range=found.query_range,
                registered_range=found.registered_range,
            )
        )
    _record(session, matches, source=source, organisation_id=organisation_id)
    return matches


def _frame_hits(live: LiveIndex, video: QueryVideo, rule: Rule) -> set[int]:
    """Return the ids of registered PDQ values near any transform hash of a good query frame."""
    radius = rule.still_distance if len(video.frames) == 1 else rule.distance
    found: set[int] = set()
    for frame in video.frames:
        if frame.quality < rule.quality:
            continue
        for value in dict.fromkeys(bytes(row) for row in frame.hashes):
            found.update(hit.hash_id for hit in live.search(SignalType.PDQ, value, radius))
    return found


def _record(
    session: Session, matches: Sequence[Match], *, source: str, organisation_id: int | None
) -> None:
    """Store one match event per match, with a video's shares and time ranges."""
    for match in matches:
        session.add(
            m.MatchEvent(
                id=match.match_id,
                source=source,
                organisation_id=organisation_id,
                fingerprint_id=match.fingerprint_id,
                signal=match.signal,
                distance=match.distance,
                inliers=match.inliers,
                confidence=match.confidence,
                query_share=match.query_share,
                registered_share=match.registered_share,
                query_range=_listed(match.query_range),
                registered_range=_listed(match.registered_range),
            )
        )


def _listed(span: tuple[float, float] | None) -> list[float] | None:
    return list(span) if span is not None else None
