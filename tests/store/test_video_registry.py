"""Registered videos: frame PDQs with their times, through withdrawal and erasure."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.detection.service import match_video
from empreinte.hashing.fingerprint import Fingerprint, Signal
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.hashing.video.frames import FrameSignal
from empreinte.hashing.video.query import query_from_frames
from empreinte.index.live import LiveIndex
from empreinte.store import models as m
from empreinte.store import registry
from empreinte.store.erase import erase_withdrawn
from empreinte.store.models.videos import VideoFrame
from tests.store.conftest import flip_bits

RNG = np.random.default_rng(5)


def _hash() -> bytes:
    return RNG.integers(0, 256, 32, np.uint8).tobytes()


def video_record(seconds: int = 20, quality: int = 90) -> Fingerprint:
    """A video record of ``seconds`` one-second frames, each with two crop hashes."""
    frames = tuple(
        FrameSignal(_hash(), quality, float(i), float(i + 1), (_hash(), _hash()))
        for i in range(seconds)
    )
    signals = (
        Signal(HashValue(SignalType.SHA256, _hash())),
        Signal(HashValue(SignalType.MD5, _hash()[:16])),
    )
    return Fingerprint(
        media_type="video/mp4",
        width=640,
        height=360,
        signals=signals,
        id=uuid.uuid4(),
        duration=float(seconds),
        frames=frames,
    )


def _case(session: Session) -> m.Case:
    org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
    return registry.open_case(session, org.id)[0]


def _live(session: Session) -> LiveIndex:
    live = LiveIndex()
    live.apply(registry.changes_since(session, 0))
    return live


def test_a_video_is_registered_with_its_frame_times(sessions: sessionmaker[Session]) -> None:
    record = video_record()
    with sessions.begin() as session:
        result = registry.attach_fingerprints(session, _case(session), [record])
        assert result.accepted == 1 and result.refused == []
    with sessions() as session:
        frames = registry.video_frames(session, [str(record.id)])[str(record.id)]
        assert frames == list(record.frames)
        live = _live(session)
        assert live.size(SignalType.PDQ) == 60
        assert live.size(SignalType.SHA256) == 1


def test_an_excerpt_matches_until_the_case_is_withdrawn(sessions: sessionmaker[Session]) -> None:
    record = video_record()
    with sessions.begin() as session:
        case = _case(session)
        registry.attach_fingerprints(session, case, [record])
        case_id = case.id
    excerpt = [
        FrameSignal(flip_bits(f.pdq, 8, RNG), 90, f.start - 5, f.end - 5)
        for f in record.frames[5:12]
    ]
    query = query_from_frames(excerpt, 7.0)
    with sessions.begin() as session:
        found = match_video(session, _live(session), query)
        assert [f.fingerprint_id for f in found] == [str(record.id)]
        assert found[0].query_share == 1.0 and found[0].registered_share == 0.35
        assert found[0].registered_range == (5.0, 12.0)
        assert found[0].query_range == (0.0, 7.0)
        event = session.get(m.MatchEvent, found[0].match_id)
        assert event is not None and event.registered_range == [5.0, 12.0]
    with sessions.begin() as session:
        case = session.get(m.Case, case_id)
        assert case is not None
        registry.withdraw_case(session, case)
    with sessions.begin() as session:
        live = _live(session)
        assert live.size(SignalType.PDQ) == 0
        assert match_video(session, live, query) == []
        erased = erase_withdrawn(session, m.utcnow() + dt.timedelta(days=30), dt.timedelta(days=1))
        assert erased == 62
        assert session.scalar(select(func.count()).select_from(VideoFrame)) == 0
        assert registry.video_frames(session, [str(record.id)]) == {}


def test_unmatchable_and_oversized_videos_are_refused(sessions: sessionmaker[Session]) -> None:
    flat = video_record(quality=20)
    crowded = video_record(seconds=61)
    crowded = Fingerprint(
        media_type="video/mp4",
        width=640,
        height=360,
        signals=crowded.signals,
        duration=30.0,
        frames=crowded.frames,
    )
    with sessions.begin() as session:
        result = registry.attach_fingerprints(session, _case(session), [flat, crowded])
    assert result.accepted == 0
    reasons = [r.reason for r in result.refused]
    assert "PDQ quality 50" in reasons[0]
    assert "over the cap of 60 a minute" in reasons[1]
