"""Video fingerprints: sampling by presentation time, deduplication, the record and its file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from empreinte.errors import SignalError
from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import Fingerprint, fingerprint_bytes
from empreinte.hashing.robust.features import MAX_CAP, LocalFeatures
from empreinte.hashing.video.decode import Sampling, VideoLimits, open_video, sample
from empreinte.hashing.video.fingerprint import check_size_cap, fingerprint_video
from empreinte.hashing.video.frames import FrameSignal, Keyframe
from tests.conftest import encode as encode_image
from tests.conftest import photo
from tests.hashing.videomake import encode, pan, texture

LIMITS = VideoLimits(max_wall_seconds=60)


def sampled(data: bytes, sampling: Sampling) -> list[tuple[int, float]]:
    opened = open_video(data, LIMITS)
    try:
        return [(f.number, round(f.time, 3)) for f in sample(opened, LIMITS, sampling)]
    finally:
        opened.container.close()


def test_variable_frame_rate_is_sampled_by_presentation_time() -> None:
    rng = np.random.default_rng(7)
    times = np.round(np.cumsum(rng.uniform(0.02, 0.3, 60)), 3).tolist()
    times = [0.0, *times]
    data = encode(pan(1, len(times)), times=times)
    got = sampled(data, Sampling())
    expected = []
    for k in range(int(times[-1]) + 1):
        first = next(i for i, t in enumerate(times) if t >= k - 1e-6)
        expected.append((first, times[first]))
    assert got == expected


def test_vpdq_sampling_counts_frames_and_drifts_on_variable_frame_rate() -> None:
    times = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.5, 3.0, 3.1]
    data = encode(pan(2, len(times)), fps=10, times=times)
    every = sampled(data, Sampling(vpdq_seconds=0.0))
    assert [n for n, _ in every] == list(range(len(times)))
    by_time = sampled(data, Sampling())
    assert [t for _, t in by_time] == [0.0, 1.0, 2.5, 3.0]


def test_still_shots_are_deduplicated_into_time_ranges() -> None:
    a, b = texture(1, (160, 120)), texture(2, (160, 120))
    data = encode([a] * 30 + [b] * 30, fps=10)
    record = fingerprint_video(data, LIMITS, isolated=False)
    assert [(f.start, f.end) for f in record.frames] == [(0.0, 3.0), (3.0, 6.0)]
    assert record.duration == pytest.approx(6.0)
    assert all(f.quality >= 50 for f in record.frames)


def test_record_carries_digests_frames_and_keyframes_but_no_pixels() -> None:
    data = encode(pan(4, 40, (320, 240)), fps=10)
    record = fingerprint_video(data, LIMITS, isolated=False)
    assert record.is_video and record.media_type == "video/mp4"
    assert {str(s.type) for s in record.signals} == {"sha256", "md5"}
    assert 1 <= len(record.keyframes) <= 2
    text = fingerprint_file.dumps([record])
    assert json.loads(text)["version"] == 3
    assert "clip" not in text and "/" not in json.dumps(json.loads(text)["records"][0]["frames"])


def test_video_record_round_trips_through_the_file() -> None:
    record = fingerprint_video(encode(pan(5, 30), fps=10), LIMITS, isolated=False)
    image = fingerprint_bytes(encode_image(photo(3)))
    parsed = fingerprint_file.loads(fingerprint_file.dumps([record, image]))
    assert parsed.problems == []
    loaded = {r.id: r for r in parsed.records}
    again = loaded[record.id]
    assert again.frames == record.frames and again.duration == record.duration
    assert [k.time for k in again.keyframes] == [k.time for k in record.keyframes]
    assert np.array_equal(
        again.keyframes[0].features.descriptors, record.keyframes[0].features.descriptors
    )
    assert fingerprint_file.dumps(parsed.records) == fingerprint_file.dumps([record, image])


def test_image_only_files_stay_version_2() -> None:
    image = fingerprint_bytes(encode_image(photo(3)))
    assert json.loads(fingerprint_file.dumps([image]))["version"] == 2


def test_a_video_record_in_a_version_2_file_is_refused() -> None:
    record = fingerprint_video(encode(pan(5, 20), fps=10), LIMITS, isolated=False)
    document = json.loads(fingerprint_file.dumps([record]))
    document["version"] = 2
    parsed = fingerprint_file.loads(json.dumps(document))
    assert parsed.records == [] and "version 3" in parsed.problems[0].reason


def test_malformed_frame_lines_are_reported() -> None:
    record = fingerprint_video(encode(pan(5, 20), fps=10), LIMITS, isolated=False)
    document = json.loads(fingerprint_file.dumps([record]))
    document["records"][0]["frames"][0] = "0.000,1.000,100,zz"
    parsed = fingerprint_file.loads(json.dumps(document))
    assert parsed.records == [] and "frames/0" in parsed.problems[0].reason


def frames(count: int) -> tuple[FrameSignal, ...]:
    rng = np.random.default_rng(count)

    def h() -> bytes:
        return rng.integers(0, 256, 32, np.uint8).tobytes()

    return tuple(FrameSignal(h(), 90, float(i), float(i + 1), (h(), h())) for i in range(count))


def video(count: int, duration: float) -> Fingerprint:
    record = fingerprint_video(encode(pan(6, 10), fps=10), LIMITS, isolated=False)
    from dataclasses import replace

    return replace(record, frames=frames(count), duration=duration)


def test_size_cap_allows_one_frame_a_second() -> None:
    check_size_cap(video(120, 120.0))


def test_size_cap_refuses_more_than_60_frames_a_minute() -> None:
    with pytest.raises(SignalError, match="60 a minute"):
        check_size_cap(video(61, 59.0))


def test_size_cap_refuses_too_many_bytes_a_minute() -> None:
    from dataclasses import replace

    rng = np.random.default_rng(0)
    heaviest = LocalFeatures(
        rng.integers(0, 256, (MAX_CAP, 32), np.uint8),
        rng.integers(0, 128, (MAX_CAP, 2), np.uint8),
        127,
        95,
    )
    record = replace(video(60, 60.0), keyframes=(Keyframe(0.0, heaviest), Keyframe(30.0, heaviest)))
    with pytest.raises(SignalError, match="bytes a minute"):
        check_size_cap(record)


def test_an_over_cap_record_in_a_file_is_reported() -> None:
    record = video(60, 60.0)
    document = json.loads(fingerprint_file.dumps([record]))
    document["records"][0]["duration"] = 30.0
    document["records"][0]["frames"].append(document["records"][0]["frames"][-1])
    parsed = fingerprint_file.loads(json.dumps(document))
    assert parsed.records == [] and "60 a minute" in parsed.problems[0].reason
