"""The re-post families: how a registered video comes back on a platform.

Each family turns the source frames (and its frame rate) into the re-posted
frames, which are then encoded as a new file; ``still`` is a screenshot.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from benchmarks.video.synth import Frames

Family = Callable[[Frames, float, Frames], Frames]
"""``(source frames, fps, unrelated filler frames) -> re-posted frames``."""


def reencode(f: Frames, fps: float, filler: Frames) -> Frames:
    return f


def rescale(f: Frames, fps: float, filler: Frames) -> Frames:
    return [
        cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA) for x in f
    ]


def crop(f: Frames, fps: float, filler: Frames) -> Frames:
    h, w = f[0].shape[:2]
    dy, dx = round(h * 0.08), round(w * 0.08)
    return [np.ascontiguousarray(x[dy : h - dy, dx : w - dx]) for x in f]


def letterbox(f: Frames, fps: float, filler: Frames) -> Frames:
    h, w = f[0].shape[:2]
    width = max(w, round(h * 16 / 9)) + 2 * round(w * 0.05)
    height = h + 2 * round(h * 0.1)
    out = []
    for x in f:
        canvas = np.zeros((height, width, 3), np.uint8)
        top, left = (height - h) // 2, (width - w) // 2
        canvas[top : top + h, left : left + w] = x
        out.append(canvas)
    return out


def mirror(f: Frames, fps: float, filler: Frames) -> Frames:
    return [np.ascontiguousarray(x[:, ::-1]) for x in f]


def speedup(f: Frames, fps: float, filler: Frames) -> Frames:
    return [f[i] for i in np.arange(0, len(f), 1.5).astype(int)]


def phone_screen(f: Frames, fps: float, filler: Frames) -> Frames:
    """The video played in a phone app and screen-recorded: UI bars, captions, a notch."""
    h, w = f[0].shape[:2]
    inner_w = 300
    inner_h = round(h * inner_w / w)
    width, height = 360, max(640, inner_h + 200)
    ui = np.full((height, width, 3), 32, np.uint8)
    cv2.rectangle(ui, (0, 0), (width, 40), (240, 240, 240), -1)
    cv2.putText(ui, "12:07  LTE  87%", (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    for row in range(3):
        y = height - 150 + row * 40
        cv2.putText(
            ui,
            f"user_{row}: look at this lol",
            (12, y),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (220, 220, 220),
            1,
        )
    cv2.circle(ui, (width // 2, height - 20), 12, (200, 200, 200), 2)
    top, left = (height - inner_h) // 2 - 40, (width - inner_w) // 2
    out = []
    for x in f:
        screen = ui.copy()
        screen[top : top + inner_h, left : left + inner_w] = cv2.resize(
            x, (inner_w, inner_h), interpolation=cv2.INTER_AREA
        )
        out.append(screen)
    return out


def video_call(f: Frames, fps: float, filler: Frames) -> Frames:
    """The video shown in a video call: a grey window, the video tile, a static self-view tile."""
    h, w = f[0].shape[:2]
    width, height = 640, 400
    tile_h = 300
    tile_w = min(round(w * tile_h / h), 440)
    tile_h = round(h * tile_w / w)
    window = np.full((height, width, 3), 60, np.uint8)
    cv2.rectangle(window, (0, height - 50), (width, height), (30, 30, 30), -1)
    for i in range(4):
        cv2.circle(
            window, (200 + 80 * i, height - 25), 15, (0, 0, 200) if i == 3 else (180, 180, 180), -1
        )
    self_view = cv2.resize(filler[0], (120, 90), interpolation=cv2.INTER_AREA)
    window[20:110, width - 140 : width - 20] = self_view
    top, left = 20, 20
    out = []
    for x in f:
        screen = window.copy()
        screen[top : top + tile_h, left : left + tile_w] = cv2.resize(
            x, (tile_w, tile_h), interpolation=cv2.INTER_AREA
        )
        out.append(screen)
    return out


def clip_inside(f: Frames, fps: float, filler: Frames) -> Frames:
    """The registered video inside a longer upload: 8 s of something else on each side."""
    h, w = f[0].shape[:2]
    pad = [cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA) for x in filler]
    n = min(len(pad) // 2, round(8 * fps))
    return pad[:n] + f + pad[n : 2 * n]


def excerpt(f: Frames, fps: float, filler: Frames) -> Frames:
    """Five seconds from the middle."""
    n = round(5 * fps)
    start = max(0, len(f) // 2 - n // 2)
    return f[start : start + n]


FAMILIES: dict[str, Family] = {
    "re-encode (CRF 32)": reencode,
    "rescale (1/2)": rescale,
    "crop (8 % a side)": crop,
    "letterbox / pillarbox": letterbox,
    "mirror": mirror,
    "sped up 1.5x": speedup,
    "screen-recorded in a phone app": phone_screen,
    "in a video call window": video_call,
    "clip inside a longer upload": clip_inside,
    "5 s excerpt": excerpt,
}
