"""Hostile and broken videos: each is refused with a clear reason, and never stalls."""

from __future__ import annotations

import io
import os
import signal
import time

import numpy as np
import pytest
from PIL import Image

from empreinte import batch
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.errors import UnsupportedVideo, VideoTooLarge
from empreinte.hashing.video.fingerprint import fingerprint_video
from empreinte.hashing.video.worker import run_isolated
from tests.conftest import photo
from tests.hashing.videomake import audio_only_mkv, claim_size, encode, pan

LIMITS = VideoLimits(max_wall_seconds=60)


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode(pan(3, 30, (320, 240)), codec_options={"profile": "baseline"})


def refusal(data: bytes, kind: type[Exception] = UnsupportedVideo) -> str:
    with pytest.raises(kind) as caught:
        fingerprint_video(data, LIMITS)
    reason: str = caught.value.args[0]
    return reason


def test_a_good_clip_is_hashed_in_the_separate_process(clip: bytes) -> None:
    record = fingerprint_video(clip, LIMITS)
    assert record.media_type == "video/mp4"
    assert record.duration == pytest.approx(3.0, abs=0.2)
    assert len(record.frames) >= 2


def test_empty_file() -> None:
    assert "empty" in refusal(b"")


def test_truncated_mp4_without_its_index(clip: bytes) -> None:
    assert "truncated" in refusal(clip[: len(clip) // 2])


def test_truncated_mp4_with_its_index_first() -> None:
    data = encode(pan(4, 40), options={"movflags": "faststart"})
    assert "truncated" in refusal(data[: len(data) * 6 // 10])


def test_header_claiming_100000_by_100000(clip: bytes) -> None:
    reason = refusal(claim_size(clip, 100_000, 100_000))
    assert "picture size" in reason


def test_header_claiming_over_the_pixel_limit_is_refused_before_decoding(clip: bytes) -> None:
    reason = refusal(claim_size(clip, 12_000, 12_000), VideoTooLarge)
    assert "12,000x12,000" in reason


def test_a_video_declaring_24_hours_is_refused_from_its_header() -> None:
    data = encode(pan(5, 3), fps=1, times=[0.0, 1.0, 24 * 3600.0])
    assert "runs 24:00:0" in refusal(data, VideoTooLarge)


def test_a_video_whose_frames_run_past_the_limit_is_stopped() -> None:
    data = encode(pan(5, 4), fps=1, times=[0.0, 1.0, 2.0, 30.0])
    limits = VideoLimits(max_seconds=10, max_wall_seconds=60)
    with pytest.raises(VideoTooLarge, match="limit"):
        fingerprint_video(data, limits)


def test_thousands_of_audio_tracks_and_no_video() -> None:
    reason = refusal(audio_only_mkv(10_000), VideoTooLarge)
    assert "streams" in reason


def test_audio_only_file_has_no_video_track() -> None:
    assert "no video track" in refusal(audio_only_mkv(3))


def gif(frames: int) -> bytes:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), np.uint8)) for _ in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=20)
    return out.getvalue()


def test_a_gif_is_not_a_video() -> None:
    assert "GIF is read as an image" in refusal(gif(5))


def test_a_gif_of_5000_frames_is_hashed_as_an_image_by_its_first_frame(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "long.gif"
    path.write_bytes(gif(5000))
    result = batch.hash_file(str(path))
    assert result.record is not None
    assert result.record.media_type == "image/gif"


def test_an_image_with_a_video_extension(tmp_path: object) -> None:
    from pathlib import Path

    out = io.BytesIO()
    photo(1).save(out, "PNG")
    assert "image (PNG)" in refusal(out.getvalue())
    path = Path(str(tmp_path)) / "clip.mp4"
    path.write_bytes(out.getvalue())
    result = batch.hash_file(str(path))
    assert result.record is not None
    assert result.record.media_type == "image/png"


def test_random_bytes_after_a_video_signature() -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(
        np.random.default_rng(1).integers(0, 255, 5000, np.uint8)
    )
    assert refusal(data)


def test_the_memory_limit_stops_the_decoder(clip: bytes) -> None:
    limits = VideoLimits(max_memory=64 * 1024 * 1024, max_wall_seconds=60)
    with pytest.raises((UnsupportedVideo, VideoTooLarge)):
        fingerprint_video(clip, limits)


def test_batch_reports_a_bad_video_and_goes_on(tmp_path: object, clip: bytes) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "good.mp4").write_bytes(clip)
    (folder / "bad.mp4").write_bytes(clip[:1000])
    summary = batch.run([folder])
    outcomes = {Path(r.path).name: r.outcome for r in summary.results}
    assert outcomes == {"bad.mp4": batch.Outcome.UNREADABLE, "good.mp4": batch.Outcome.HASHED}


def _hang(data: bytes, limits: VideoLimits) -> None:
    time.sleep(120)


def test_a_job_that_hangs_is_killed_at_the_time_limit() -> None:
    limits = VideoLimits(max_wall_seconds=0.5, startup_seconds=5)
    with pytest.raises(VideoTooLarge, match="decoder was stopped"):
        run_isolated(_hang, b"", limits)


def _crash(data: bytes, limits: VideoLimits) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def test_a_decoder_crash_is_a_refusal() -> None:
    with pytest.raises(UnsupportedVideo, match="crashed"):
        run_isolated(_crash, b"", LIMITS)
