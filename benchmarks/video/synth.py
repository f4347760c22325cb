"""Make the benchmark's videos: slideshows with pans and zooms over photos, and their re-posts.

Every video is a list of RGB frames at a frame rate; :func:`encode` turns it
into H.264 MP4 bytes with PyAV, :func:`decode` reads frames back.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

Frames = list[np.ndarray]


def load_photo(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Return the photo as RGB, resized to cover ``size`` with 30 % to spare for motion."""
    width, height = size
    image = Image.open(path).convert("RGB")
    scale = 1.3 * max(width / image.width, height / image.height)
    image = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    )
    return np.asarray(image)


def slideshow(
    photos: Sequence[np.ndarray],
    seed: int,
    size: tuple[int, int] = (320, 240),
    fps: int = 15,
    seconds: float = 4.0,
) -> Frames:
    """Show each photo ``seconds`` long, zooming and panning, with noise and a moving spot."""
    rng = np.random.default_rng(seed)
    width, height = size
    frames: Frames = []
    count = round(seconds * fps)
    for photo in photos:
        ph, pw = photo.shape[:2]
        zoom0, zoom1 = rng.uniform(1.0, 1.15), rng.uniform(1.0, 1.15)
        dx, dy = rng.uniform(-0.5, 0.5, 2)
        for i in range(count):
            a = i / max(1, count - 1)
            zoom = zoom0 + (zoom1 - zoom0) * a
            cw, ch = width * 1.1 / zoom, height * 1.1 / zoom
            cx = pw / 2 + dx * a * (pw - cw) / 2
            cy = ph / 2 + dy * a * (ph - ch) / 2
            m = np.array(
                [
                    [width / cw, 0, width / 2 - cx * width / cw],
                    [0, height / ch, height / 2 - cy * height / ch],
                ]
            )
            frame = cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR)
            noise = rng.normal(0, 2.0, frame.shape)
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
            sx, sy = int(width * (0.1 + 0.8 * a)), int(height * 0.8)
            cv2.circle(frame, (sx, sy), max(2, width // 40), (255, 255, 255), -1)
            frames.append(frame)
    return frames


def encode(
    frames: Sequence[np.ndarray], fps: float, crf: int = 23, preset: str = "veryfast"
) -> bytes:
    """Encode RGB frames as H.264 MP4 (yuv420p; odd sizes are cut to even)."""
    h, w = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream(
                "libx264", rate=round(fps), options={"crf": str(crf), "preset": preset}
            )
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(rgb[:h, :w]), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path.read_bytes()


def decode(data: bytes, side: int = 360) -> tuple[Frames, float]:
    """Return every frame (longer side reduced to ``side``) and the frame rate."""
    import io

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        out: Frames = []
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            scale = side / max(rgb.shape[:2])
            if scale < 1:
                rgb = cv2.resize(
                    rgb,
                    (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)),
                    interpolation=cv2.INTER_AREA,
                )
            out.append(rgb)
    return out, fps
