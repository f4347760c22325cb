"""Query-side region proposals: where a re-posted photo may sit inside a bigger image.

A screenshot, chat, story or collage holds the photo as a textured rectangle among
flat UI, blurred fill or other photos. The proposals are:

* the whole image;
* textured blocks: pixels with local detail, closed to fill the flat parts of
  a photo, opened to drop text lines and icons, then split into connected
  components whose boxes are mostly filled (the photo in a feed or chat, the
  sharp photo inside a blurred story fill, the cells of a collage with gutters);
* the halves and quarters of squarish blocks (collages without gutters).

Boxes are ``(x, y, w, h)`` in pixels of the image given. Pure function, no state.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from empreinte.hashing.robust.features import resize_longer, to_gray

Box = tuple[int, int, int, int]

ANALYSIS_SIDE: Final = 384
MIN_AREA: Final = 0.02
"""A block must cover this share of the image to be proposed."""
NESTED_MIN_AREA: Final = 0.01
"""Blocks looked for inside blocks (and for zoomed query views) may be this small."""
MIN_SIDE_PX: Final = 48
MAX_REGIONS: Final = 8
_DETAIL: Final = 1.5
"""Local standard deviation (0-255) above which a pixel counts as detail."""


def detail_mask(gray: np.ndarray) -> np.ndarray:
    """Return a uint8 mask of pixels whose 5x5 neighbourhood has visible detail."""
    g = gray.astype(np.float32)
    mean = cv2.blur(g, (5, 5))
    sq = cv2.blur(g * g, (5, 5))
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return (std > _DETAIL).astype(np.uint8)


def textured_blocks(gray: np.ndarray, min_share: float = MIN_AREA) -> list[Box]:
    """Boxes of large, mostly filled textured blocks of a small gray image."""
    h, w = gray.shape
    side = max(h, w)
    mask = detail_mask(gray)
    close = max(3, side // 60) | 1
    opening = max(5, side // 22) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((opening, opening), np.uint8))
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    boxes: list[Box] = []
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if bw * bh < min_share * h * w or area < 0.6 * bw * bh:
            continue
        boxes.append((x, y, bw, bh))
    return boxes


def splits(box: Box) -> list[Box]:
    """Halves and quarters of a squarish block, for collages without gutters."""
    x, y, w, h = box
    if not 0.6 <= w / max(h, 1) <= 1.7:
        return []
    hw, hh = w // 2, h // 2
    quarters = [
        (x, y, hw, hh),
        (x + hw, y, w - hw, hh),
        (x, y + hh, hw, h - hh),
        (x + hw, y + hh, w - hw, h - hh),
    ]
    halves = [(x, y, hw, h), (x + hw, y, w - hw, h), (x, y, w, hh), (x, y + hh, w, h - hh)]
    return quarters + halves


def _scale(box: Box, f: float, shape: tuple[int, int]) -> Box:
    x, y, w, h = box
    x0, y0 = round(x / f), round(y / f)
    x1, y1 = min(shape[1], round((x + w) / f)), min(shape[0], round((y + h) / f))
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def _overlap(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def photo_blocks(rgb: np.ndarray, min_share: float = NESTED_MIN_AREA) -> list[Box]:
    """Textured blocks of the image, largest first, and the blocks inside each (a feed
    screenshot inside a chat screenshot: two levels of UI), in the image's pixels.

    Each block that does not fill the image is analysed again on its own, at its own
    scale, so a photo that is small in a big canvas is still found.
    """
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE_PX:
        return []
    gray = to_gray(rgb)
    small, f = resize_longer(gray, ANALYSIS_SIDE)
    out: list[Box] = []
    for block in textured_blocks(small, min_share):
        big = _scale(block, f, (h, w))
        if min(big[2], big[3]) < MIN_SIDE_PX:
            continue
        out.append(big)
        if big[2] * big[3] > 0.8 * h * w:
            continue
        x, y, bw, bh = big
        inner, g = resize_longer(gray[y : y + bh, x : x + bw], ANALYSIS_SIDE)
        for sub in textured_blocks(inner, NESTED_MIN_AREA):
            sx, sy, sw, sh = _scale(sub, g, (bh, bw))
            if min(sw, sh) >= MIN_SIDE_PX and sw * sh < 0.8 * bw * bh:
                out.append((x + sx, y + sy, sw, sh))
    return sorted(out, key=lambda b: -b[2] * b[3])


def propose(rgb: np.ndarray, max_regions: int = MAX_REGIONS) -> list[Box]:
    """Return region proposals in the image's pixels, the whole image first."""
    h, w = rgb.shape[:2]
    whole: Box = (0, 0, w, h)
    if min(h, w) < MIN_SIDE_PX:
        return [whole]
    small, f = resize_longer(to_gray(rgb), ANALYSIS_SIDE)
    blocks = textured_blocks(small)
    found: list[Box] = sorted(blocks, key=lambda b: -b[2] * b[3])
    for block in blocks:
        found.extend(splits(block))
    if len(found) == 0 or _overlap(found[0], (0, 0, small.shape[1], small.shape[0])) < 0.9:
        found.extend(splits((0, 0, small.shape[1], small.shape[0])))
    out: list[Box] = [whole]
    for box in found:
        big = _scale(box, f, (h, w))
        if min(big[2], big[3]) < MIN_SIDE_PX:
            continue
        if all(_overlap(big, other) < 0.85 for other in out):
            out.append(big)
        if len(out) >= max_regions:
            break
    return out
