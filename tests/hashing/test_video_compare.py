"""The match rule: both shares, time ranges, transforms, stills, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from empreinte.hashing.video.compare import compare, vpdq_rule
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.fingerprint import fingerprint_video
from empreinte.hashing.video.frames import FrameSignal
from empreinte.hashing.video.query import query_from_frames, query_still, query_video
from tests.hashing.videomake import encode, pan

LIMITS = VideoLimits(max_wall_seconds=60)
RNG = np.random.default_rng(11)


def random_hash() -> bytes:
    return RNG.integers(0, 256, 32, np.uint8).tobytes()


def noisy(h: bytes, bits: int) -> bytes:
    value = int.from_bytes(h, "big")
    for bit in RNG.choice(256, bits, replace=False):
        value ^= 1 << int(bit)
    return value.to_bytes(32, "big")


def timeline(hashes: list[bytes], start: float = 0.0, step: float = 1.0) -> list[FrameSignal]:
    return [
        FrameSignal(h, 90, round(start + i * step, 3), round(start + (i + 1) * step, 3))
        for i, h in enumerate(hashes)
    ]


REGISTERED = [random_hash() for _ in range(20)]


def test_clip_inside_a_longer_upload_matches_on_the_registered_share() -> None:
    upload = [random_hash() for _ in range(40)] + [noisy(h, 8) for h in REGISTERED]
    upload += [random_hash() for _ in range(40)]
    query = query_from_frames(timeline(upload), 100.0)
    match = compare(timeline(REGISTERED), query)
    assert match.matched
    assert match.registered_share == 1.0
    assert 0.15 < match.query_share < 0.3
    assert match.query_range == (40.0, 60.0)
    assert match.registered_range == (0.0, 20.0)
    assert not vpdq_rule(timeline(REGISTERED), query)[0]  # query share < 80 %


def test_short_excerpt_matches_on_the_query_share() -> None:
    query = query_from_frames(timeline([noisy(h, 6) for h in REGISTERED[5:9]]), 4.0)
    match = compare(timeline(REGISTERED), query)
    assert match.matched
    assert match.query_share == 1.0 and match.registered_share == 0.2
    assert match.registered_range == (5.0, 9.0)


def test_a_sped_up_copy_is_aligned_at_its_speed() -> None:
    query = query_from_frames(timeline(REGISTERED, step=0.5), 10.0)
    match = compare(timeline(REGISTERED), query)
    assert match.matched and match.speed == 2.0


def test_scattered_frame_matches_out_of_order_are_not_a_match() -> None:
    shuffled = [REGISTERED[i] for i in (17, 2, 11, 5)]
    hashes = [random_hash() for _ in range(40)]
    for position, h in zip((3, 14, 25, 36), shuffled, strict=True):
        hashes[position] = h
    match = compare(timeline(REGISTERED), query_from_frames(timeline(hashes), 40.0))
    assert not match.matched


def test_unrelated_videos_do_not_match() -> None:
    other = query_from_frames(timeline([random_hash() for _ in range(30)]), 30.0)
    assert not compare(timeline(REGISTERED), other).matched


def test_low_quality_frames_do_not_count() -> None:
    flat = [FrameSignal(f.pdq, 10, f.start, f.end) for f in timeline(REGISTERED)]
    assert not compare(flat, query_from_frames(timeline(REGISTERED), 20.0)).matched


def test_a_mirrored_re_post_matches_through_a_dihedral_hash() -> None:
    frames = pan(8, 60, (320, 240))
    registered = fingerprint_video(encode(frames), LIMITS, isolated=False)
    mirrored = encode([np.ascontiguousarray(f[:, ::-1]) for f in frames])
    match = compare(registered.frames, query_video(mirrored, LIMITS, isolated=False))
    assert match.matched and match.transform % 17 not in (0, 8, 11, 14)


def test_a_screenshot_of_a_frame_matches_the_video() -> None:
    frames = pan(9, 60, (320, 240))
    registered = fingerprint_video(encode(frames), LIMITS, isolated=False)
    match = compare(registered.frames, query_still(frames[30]))
    assert match.matched
    assert match.registered_range is not None
    assert match.registered_range[0] <= 3.0 <= match.registered_range[1]


def test_a_cropped_screenshot_matches_through_keyframe_features(evaldata: Path) -> None:
    from empreinte.index.robust import RobustMatcher

    photo = Image.open(evaldata / "imagenet_sample" / "n01440764_tench.JPEG").convert("RGB")
    wide = np.asarray(photo.resize((720, 360)))
    frames = [np.ascontiguousarray(wide[:, i * 4 : i * 4 + 480]) for i in range(60)]
    registered = fingerprint_video(encode(frames), LIMITS, isolated=False)
    keyframe = registered.keyframes[0]
    matcher = RobustMatcher()
    for k in registered.keyframes:
        matcher.add(f"{registered.id}@{k.time}", k.features)
    shot = frames[round(keyframe.time * 10)]
    crop = np.ascontiguousarray(shot[60:300, 90:400])
    assert not compare(registered.frames, query_still(crop)).matched  # PDQ alone misses it
    found = matcher.query(crop)
    assert [m.key for m in found] == [f"{registered.id}@{keyframe.time}"]
