"""Match queries against the registry: candidates from the index, decision from the database.

This is the one matching use case, shared by the platform endpoint and the
crawler. The index proposes candidates; the database confirms that each one
still belongs to an active case before it is reported, so a withdrawn hash
never leaks into results even if an index lags behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from empreinte.hashing.decode import Limits, decode
from empreinte.hashing.pdq import pdq_dihedral_from_rgb, pdq_from_rgb
from empreinte.hashing.signals import SignalType
from empreinte.index.live import LiveIndex
from empreinte.store import models as m
from empreinte.store.registry import fingerprints_of_hashes

DEFAULT_THRESHOLDS: Final[Mapping[SignalType, int]] = {
    SignalType.PDQ: 31,
    SignalType.PHASH: 6,
    SignalType.DHASH: 6,
    SignalType.WHASH: 6,
    SignalType.SHA256: 0,
    SignalType.MD5: 0,
}


@dataclass(frozen=True, slots=True)
class Query:
    """One hash value to look up; ``index`` is its position in the caller's request."""

    signal: SignalType
    value: bytes
    index: int = 0


@dataclass(frozen=True, slots=True)
class Match:
    """A registered fingerprint found for a query, with the evidence."""

    match_id: str
    fingerprint_id: str
    signal: SignalType
    distance: int
    confidence: float
    query: int


def confidence(signal: SignalType, distance: int) -> float:
    """Map a distance to a score in [0, 1]: 1 for identical, about 0.5 at PDQ's threshold.

    Exact digests score 1. For perceptual hashes the score falls linearly with
    the share of differing bits, reaching 0 at a quarter of the bits, where
    unrelated images start to appear.
    """
    if not signal.perceptual:
        return 1.0
    return round(max(0.0, 1.0 - distance / (signal.nbits / 4)), 4)


def match_queries(
    session: Session,
    live: LiveIndex,
    queries: Sequence[Query],
    *,
    thresholds: Mapping[SignalType, int] = DEFAULT_THRESHOLDS,
    source: str = "platform",
    organisation_id: int | None = None,
) -> list[Match]:
    """Find registered fingerprints near each query, and record each match as an event."""
    best: dict[tuple[int, str], tuple[int, SignalType]] = {}
    hits_by_query = []
    for query in queries:
        radius = thresholds.get(query.signal, DEFAULT_THRESHOLDS[query.signal])
        hits_by_query.append((query, live.search(query.signal, query.value, radius)))
    owners = fingerprints_of_hashes(
        session, (hit.hash_id for _, hits in hits_by_query for hit in hits)
    )
    for query, hits in hits_by_query:
        for hit in hits:
            for fingerprint_id in owners.get(hit.hash_id, ()):
                key = (query.index, fingerprint_id)
                current = best.get(key)
                if current is None or _stronger(hit.signal, hit.distance, *current):
                    best[key] = (hit.distance, hit.signal)
    matches = [
        Match(
            match_id=str(uuid.uuid4()),
            fingerprint_id=fingerprint_id,
            signal=signal,
            distance=distance,
            confidence=confidence(signal, distance),
            query=query_index,
        )
        for (query_index, fingerprint_id), (distance, signal) in sorted(best.items())
    ]
    for match in matches:
        session.add(
            m.MatchEvent(
                id=match.match_id,
                source=source,
                organisation_id=organisation_id,
                fingerprint_id=match.fingerprint_id,
                signal=match.signal.value,
                distance=match.distance,
                confidence=match.confidence,
            )
        )
    return matches


def _stronger(signal: SignalType, distance: int, other_distance: int, other: SignalType) -> bool:
    return confidence(signal, distance) > confidence(other, other_distance)


def image_queries(data: bytes, limits: Limits, *, dihedral: bool = True) -> list[Query]:
    """Hash an image in memory into the queries to run; the bytes are not kept.

    PDQ is queried with its 8 dihedral variants (mirrors and quarter turns)
    unless ``dihedral`` is False; SHA-256 and MD5 find exact copies.
    """
    decoded = decode(data, limits)
    if dihedral:
        variants, _ = pdq_dihedral_from_rgb(decoded.rgb)
    else:
        variants = [pdq_from_rgb(decoded.rgb)[0]]
    queries = [Query(SignalType.PDQ, value) for value in dict.fromkeys(variants)]
    queries.append(Query(SignalType.SHA256, hashlib.sha256(data).digest()))
    queries.append(Query(SignalType.MD5, hashlib.md5(data, usedforsecurity=False).digest()))
    return queries
