"""Draw the sample photos shipped with Empreinte (made here, free of any licence).

Run ``python tools/make_samples.py`` to redraw them; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parents[1] / "samples"


def scene(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """Draw a random landscape-like scene: sky gradient, hills, shapes, texture."""
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    top, bottom = rng.uniform(40, 230, 3), rng.uniform(40, 230, 3)
    sky = (top * (1 - y) + bottom * y) * np.ones((1, width, 1))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        base = rng.uniform(0.4, 0.9) * height
        xs = np.linspace(0, width, 24)
        ys = base + rng.normal(0, height * 0.06, xs.size).cumsum() * 0.3
        colour = tuple(int(c) for c in rng.integers(20, 200, 3))
        draw.polygon([*zip(xs, ys, strict=True), (width, height), (0, height)], fill=colour)
    for _ in range(int(rng.integers(14, 24))):
        x, yy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(10, 90)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, yy - r, x + r, yy + r), fill=colour)
        else:
            draw.rectangle((x - r, yy - r * 0.6, x + r, yy + r * 0.6), fill=colour)
    noise = rng.normal(0, 6, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(0.5))


def main() -> None:
    for seed in range(1, 7):
        scene(seed).save(HERE / f"sample-{seed}.jpg", quality=88)


if __name__ == "__main__":
    main()
