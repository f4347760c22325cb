# ruff: noqa: N803, SIM905
"""Re-post transformations for the robustness benchmark, drawn with PIL.

Every family has several variants; a variant is picked per (image, family) from a
seeded generator, so a run is reproducible and no single layout dominates.
Screenshots vary device width, theme, margins, photo aspect crop, captions, header
and footer heights, and final downscale; they are not one template.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Rng = np.random.Generator
Transform = Callable[[Image.Image, Rng, Sequence[Image.Image]], Image.Image]

WORDS = (
    "lol look at this omg who is she new post tonight party weekend vibes fire "
    "dm me link in bio share repost follow like comment story summer beach night "
    "can't believe it wow so hot check this out my ex leaked haha send more"
).split()

AUGLY_TEMPLATES = Path(__file__).resolve().parents[2].parent / "shared/evaldata/augly"


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def sentence(rng: Rng, n: int) -> str:
    return " ".join(str(w) for w in rng.choice(WORDS, size=n))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def theme(rng: Rng) -> dict[str, tuple[int, int, int]]:
    if rng.random() < 0.5:
        return {
            "bg": (255, 255, 255),
            "fg": (20, 20, 20),
            "sub": (120, 120, 120),
            "bubble": (235, 235, 240),
            "mine": (0, 132, 255),
            "bar": (248, 248, 248),
        }
    return {
        "bg": (0, 0, 0),
        "fg": (240, 240, 240),
        "sub": (150, 150, 150),
        "bubble": (38, 38, 42),
        "mine": (55, 90, 200),
        "bar": (18, 18, 18),
    }


def center_crop_aspect(img: Image.Image, aspect: float) -> Image.Image:
    """Crop to width/height = aspect around the centre (what feeds do to photos)."""
    w, h = img.size
    if w / h > aspect:
        nw = round(h * aspect)
        left = (w - nw) // 2
        return img.crop((left, 0, left + nw, h))
    nh = round(w / aspect)
    top = (h - nh) // 2
    return img.crop((0, top, w, top + nh))


def status_bar(
    draw: ImageDraw.ImageDraw,
    width: int,
    height: int,
    col: dict[str, tuple[int, int, int]],
    rng: Rng,
) -> None:
    f = font(int(height * 0.5))
    draw.text(
        (int(width * 0.06), int(height * 0.2)),
        f"{rng.integers(0, 24)}:{rng.integers(10, 60)}",
        fill=col["fg"],
        font=f,
    )
    for i in range(3):
        x = width - int(width * 0.06) - i * int(height * 0.7)
        draw.rectangle(
            (x - int(height * 0.45), int(height * 0.3), x, int(height * 0.7)), fill=col["fg"]
        )


# ---------------------------------------------------------------- simple families


def t_jpeg(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    return jpeg(img, int(rng.choice([20, 30, 45, 60])))


def t_resize(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    f = float(rng.choice([0.25, 0.4, 0.6, 1.5]))
    w, h = img.size
    return jpeg(
        img.resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR), 85
    )


def t_colour(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    from PIL import ImageEnhance

    k = int(rng.integers(0, 5))
    if k == 0:
        out = ImageOps.grayscale(img).convert("RGB")
    elif k == 1:
        out = ImageEnhance.Brightness(img).enhance(float(rng.choice([0.6, 1.4])))
    elif k == 2:
        out = ImageEnhance.Contrast(img).enhance(float(rng.choice([0.6, 1.5])))
    elif k == 3:
        out = ImageEnhance.Color(img).enhance(float(rng.choice([0.3, 2.0])))
    else:  # warm filter
        a = np.asarray(img).astype(np.float32) * np.array([1.1, 1.0, 0.8])
        out = Image.fromarray(np.clip(a + 10, 0, 255).astype(np.uint8))
    return jpeg(out, 85)


def t_blur_noise(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    if rng.random() < 0.5:
        return jpeg(img.filter(ImageFilter.GaussianBlur(float(rng.choice([1.5, 2.5, 3.5])))), 85)
    a = np.asarray(img).astype(np.float32)
    a += rng.normal(0, float(rng.choice([8, 15, 25])), a.shape)
    return jpeg(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), 85)


def t_text(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    k = int(rng.integers(0, 3))
    size = int(h * float(rng.uniform(0.07, 0.12)))
    f = font(size)
    if k == 0:  # meme top + bottom, outlined
        for y in (int(h * 0.03), int(h * 0.85)):
            draw.text(
                (int(w * 0.05), y),
                sentence(rng, 3).upper(),
                font=f,
                fill="white",
                stroke_width=max(1, size // 12),
                stroke_fill="black",
            )
    elif k == 1:  # caption strip over the lower third
        y0 = int(h * rng.uniform(0.55, 0.75))
        draw.rectangle((0, y0, w, y0 + int(size * 1.6)), fill=(0, 0, 0))
        draw.text((int(w * 0.04), y0 + size // 4), sentence(rng, 4), font=f, fill="white")
    else:  # scattered watermark handles
        for _i in range(3):
            draw.text(
                (int(w * rng.uniform(0, 0.6)), int(h * rng.uniform(0, 0.9))),
                "@" + sentence(rng, 1) + str(rng.integers(10, 99)),
                font=f,
                fill=(255, 255, 255),
            )
    return jpeg(out, 85)


def t_mirror(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    return jpeg(ImageOps.mirror(img), 85)


def t_rot90(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    method = [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270]
    return jpeg(img.transpose(method[int(rng.integers(0, 3))]), 85)


def t_rot7(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    angle = float(rng.choice([-7.0, -5.0, 5.0, 7.0]))
    if rng.random() < 0.5:  # rotated with black corners, canvas expanded
        out = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    else:  # rotated and cropped to the valid centre (90 %)
        w, h = img.size
        out = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        out = out.crop((int(w * 0.1), int(h * 0.1), int(w * 0.9), int(h * 0.9)))
    return jpeg(out, 85)


def _crop(img: Image.Image, rng: Rng, side: float) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * side), round(h * side)
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return jpeg(img.crop((x, y, x + cw, y + ch)), 85)


def t_crop80(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    return _crop(img, rng, 0.8)


def t_crop60(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    return _crop(img, rng, 0.6)


def t_story(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """9:16 story: photo fitted (sometimes zoomed), blurred or flat fill, stickers and text."""
    W = int(rng.choice([720, 1080]))
    H = W * 16 // 9
    w, h = img.size
    if rng.random() < 0.7:
        bg = img.resize((W, H), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(W / 25))
    else:
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        bg = Image.new("RGB", (W, H), c)  # type: ignore[arg-type]
    scale = W / w * float(rng.choice([0.8, 0.9, 1.0]))
    pw, ph = round(w * scale), round(h * scale)
    photo = img.resize((pw, ph), Image.Resampling.BICUBIC)
    x = (W - pw) // 2
    y = int((H - ph) * float(rng.uniform(0.3, 0.6)))
    bg.paste(photo, (x, y))
    draw = ImageDraw.Draw(bg)
    # progress bars + account line at the top
    n = int(rng.integers(1, 5))
    for i in range(n):
        x0 = int(W * 0.02) + i * (W - int(W * 0.04)) // n
        draw.rectangle(
            (x0, int(H * 0.01), x0 + (W - int(W * 0.04)) // n - 6, int(H * 0.013)), fill="white"
        )
    draw.ellipse(
        (int(W * 0.03), int(H * 0.025), int(W * 0.1), int(H * 0.025) + int(W * 0.07)), fill="white"
    )
    draw.text((int(W * 0.12), int(H * 0.03)), sentence(rng, 1), fill="white", font=font(W // 28))
    if rng.random() < 0.6:
        draw.text(
            (int(W * 0.1), int(H * rng.uniform(0.75, 0.9))),
            sentence(rng, 3),
            fill="white",
            font=font(W // 16),
            stroke_width=2,
            stroke_fill="black",
        )
    return jpeg(bg, 80)


def _profile_row(
    draw: ImageDraw.ImageDraw,
    W: int,
    y: int,
    hh: int,
    col: dict[str, tuple[int, int, int]],
    rng: Rng,
) -> None:
    r = int(hh * 0.7)
    draw.ellipse(
        (int(W * 0.03), y + (hh - r) // 2, int(W * 0.03) + r, y + (hh + r) // 2),
        fill=tuple(int(v) for v in rng.integers(60, 255, 3)),
    )  # type: ignore[arg-type]
    draw.text(
        (int(W * 0.03) + r + 12, y + hh // 3),
        sentence(rng, 1) + "_" + str(rng.integers(1, 999)),
        fill=col["fg"],
        font=font(int(hh * 0.32)),
    )
    draw.text((W - int(W * 0.08), y + hh // 4), "...", fill=col["fg"], font=font(int(hh * 0.4)))


def feed_screenshot(img: Image.Image, rng: Rng) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A social feed screenshot; returns the image and the photo box (x0, y0, x1, y1)."""
    W = int(rng.choice([720, 828, 1080, 1170, 1440]))
    H = int(W * float(rng.choice([16 / 9, 19.5 / 9, 20 / 9])))
    col = theme(rng)
    canvas = Image.new("RGB", (W, H), col["bg"])
    draw = ImageDraw.Draw(canvas)
    sb = int(W * 0.06)
    status_bar(draw, W, sb, col, rng)
    top = sb + int(W * float(rng.uniform(0.08, 0.14)))  # app header
    draw.rectangle((0, sb, W, top), fill=col["bar"])
    draw.text(
        (int(W * 0.04), sb + int(W * 0.025)),
        sentence(rng, 1).capitalize(),
        fill=col["fg"],
        font=font(int(W * 0.05)),
    )
    y = top + int(W * float(rng.uniform(0.0, 0.3)))  # sometimes the end of a previous post
    if y > top + W * 0.05:
        draw.text(
            (int(W * 0.04), top + 10), sentence(rng, 5), fill=col["sub"], font=font(int(W * 0.035))
        )
    hh = int(W * 0.13)
    _profile_row(draw, W, y, hh, col, rng)
    y += hh
    photo = img
    k = rng.random()
    if k < 0.3:
        photo = center_crop_aspect(img, 1.0)
    elif k < 0.45:
        photo = center_crop_aspect(img, 4 / 5) if img.width / img.height < 4 / 5 else img
    margin = 0 if rng.random() < 0.7 else int(W * 0.04)
    pw = W - 2 * margin
    ph = round(photo.height * pw / photo.width)
    canvas.paste(photo.resize((pw, ph), Image.Resampling.BICUBIC), (margin, y))
    box = (margin, y, margin + pw, y + ph)
    y += ph + int(W * 0.02)
    for i in range(4):  # action icons
        x = int(W * 0.04) + i * int(W * 0.1)
        draw.ellipse((x, y, x + int(W * 0.065), y + int(W * 0.065)), outline=col["fg"], width=3)
    y += int(W * 0.09)
    f = font(int(W * 0.035))
    for _i in range(int(rng.integers(1, 4))):
        draw.text((int(W * 0.04), y), sentence(rng, 6), fill=col["fg"], font=f)
        y += int(W * 0.05)
    draw.rectangle((0, H - int(W * 0.13), W, H), fill=col["bar"])  # tab bar
    for i in range(5):
        cx = int(W * (0.1 + 0.2 * i))
        draw.rectangle(
            (cx - 18, H - int(W * 0.09), cx + 18, H - int(W * 0.09) + 36),
            outline=col["fg"],
            width=3,
        )
    return canvas, box


def t_feed(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    if rng.random() < 0.2 and (AUGLY_TEMPLATES / "screenshot_templates").is_dir():
        return augly_template(img, rng)
    canvas, _box = feed_screenshot(img, rng)
    return _finish_screenshot(canvas, rng)


def _finish_screenshot(canvas: Image.Image, rng: Rng) -> Image.Image:
    f = float(rng.choice([0.5, 0.75, 1.0]))
    if f != 1.0:
        canvas = canvas.resize(
            (round(canvas.width * f), round(canvas.height * f)), Image.Resampling.BILINEAR
        )
    return jpeg(canvas, int(rng.choice([70, 85, 95])))


def augly_template(img: Image.Image, rng: Rng) -> Image.Image:
    import json

    folder = AUGLY_TEMPLATES / "screenshot_templates"
    boxes = json.loads((folder / "bboxes.json").read_text())
    name = str(rng.choice(sorted(boxes)))
    x0, y0, x1, y1 = boxes[name]
    tpl = Image.open(folder / name).convert("RGB")
    photo = center_crop_aspect(img, (x1 - x0) / (y1 - y0))
    tpl.paste(photo.resize((x1 - x0, y1 - y0), Image.Resampling.BICUBIC), (x0, y0))
    return jpeg(tpl, 85)


def chat_screenshot(img: Image.Image, rng: Rng) -> tuple[Image.Image, tuple[int, int, int, int]]:
    W = int(rng.choice([720, 828, 1080, 1170]))
    H = int(W * float(rng.choice([16 / 9, 19.5 / 9])))
    col = theme(rng)
    canvas = Image.new("RGB", (W, H), col["bg"])
    draw = ImageDraw.Draw(canvas)
    sb = int(W * 0.06)
    status_bar(draw, W, sb, col, rng)
    top = sb + int(W * 0.14)
    draw.rectangle((0, sb, W, top), fill=col["bar"])
    r = int(W * 0.09)
    draw.ellipse(
        (int(W * 0.12), sb + (top - sb - r) // 2, int(W * 0.12) + r, sb + (top - sb + r) // 2),
        fill=(200, 120, 90),
    )
    draw.text(
        (int(W * 0.25), sb + (top - sb) // 3),
        sentence(rng, 1).capitalize(),
        fill=col["fg"],
        font=font(int(W * 0.045)),
    )
    f = font(int(W * 0.04))
    y = top + int(W * 0.03)
    mine = rng.random() < 0.5
    placed: tuple[int, int, int, int] | None = None
    slots = int(rng.integers(1, 4))
    for i in range(6):
        if i == slots and placed is None:
            photo = center_crop_aspect(img, 1.0) if rng.random() < 0.3 else img
            pw = int(W * float(rng.uniform(0.55, 0.72)))
            ph = round(photo.height * pw / photo.width)
            if ph > H * 0.5:
                ph = int(H * 0.5)
                pw = round(photo.width * ph / photo.height)
            x = W - pw - int(W * 0.04) if mine else int(W * 0.04)
            pad = int(W * 0.008)
            draw.rounded_rectangle(
                (x - pad, y - pad, x + pw + pad, y + ph + pad),
                radius=int(W * 0.04),
                fill=col["mine"] if mine else col["bubble"],
            )
            ph_img = photo.resize((pw, ph), Image.Resampling.BICUBIC)
            mask = Image.new("L", (pw, ph), 0)
            ImageDraw.Draw(mask).rounded_rectangle((0, 0, pw, ph), radius=int(W * 0.035), fill=255)
            canvas.paste(ph_img, (x, y), mask)
            draw.text(
                (x + pw - int(W * 0.12), y + ph - int(W * 0.05)),
                f"{rng.integers(0, 24)}:{rng.integers(10, 60)}",
                fill="white",
                font=font(int(W * 0.03)),
            )
            placed = (x, y, x + pw, y + ph)
            y += ph + int(W * 0.04)
            continue
        if y > H - W * 0.35:
            break
        text = sentence(rng, int(rng.integers(2, 7)))
        me = rng.random() < 0.5
        tw = int(draw.textlength(text, font=f)) + int(W * 0.06)
        tw = min(tw, int(W * 0.75))
        bh = int(W * 0.1)
        x = W - tw - int(W * 0.04) if me else int(W * 0.04)
        draw.rounded_rectangle(
            (x, y, x + tw, y + bh), radius=bh // 2, fill=col["mine"] if me else col["bubble"]
        )
        draw.text((x + int(W * 0.03), y + bh // 4), text, fill="white" if me else col["fg"], font=f)
        y += bh + int(W * 0.025)
    draw.rectangle((0, H - int(W * 0.16), W, H), fill=col["bar"])
    draw.rounded_rectangle(
        (int(W * 0.15), H - int(W * 0.13), int(W * 0.85), H - int(W * 0.05)),
        radius=30,
        outline=col["sub"],
        width=2,
    )
    assert placed is not None
    return canvas, placed


def t_chat(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    canvas, _box = chat_screenshot(img, rng)
    return _finish_screenshot(canvas, rng)


def t_cropped_screenshot(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """A feed or chat screenshot cropped by the poster: some UI kept, part of the photo cut."""
    canvas, (x0, y0, x1, y1) = (feed_screenshot if rng.random() < 0.6 else chat_screenshot)(
        img, rng
    )
    pw, ph = x1 - x0, y1 - y0
    # keep 70-100 % of the photo height, cut at top or bottom, keep some UI around
    keep = float(rng.uniform(0.7, 1.0))
    if rng.random() < 0.5:
        cy0, cy1 = y0 + int(ph * (1 - keep)), y1 + int(ph * rng.uniform(0.0, 0.3))
    else:
        cy0, cy1 = y0 - int(ph * rng.uniform(0.0, 0.3)), y0 + int(ph * keep)
    cx0 = max(0, x0 - int(pw * rng.uniform(0, 0.1)))
    cx1 = min(canvas.width, x1 + int(pw * rng.uniform(0, 0.1)))
    out = canvas.crop((cx0, max(0, cy0), cx1, min(canvas.height, cy1)))
    return _finish_screenshot(out, rng)


def t_collage(img: Image.Image, rng: Rng, others: Sequence[Image.Image]) -> Image.Image:
    """2x2 collage with gutters; the photo in a random cell, cells centre-cropped or fitted."""
    cell = int(rng.choice([300, 400, 540]))
    gut = int(rng.choice([0, 6, 16]))
    bgc = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    canvas = Image.new("RGB", (2 * cell + 3 * gut, 2 * cell + 3 * gut), bgc)
    picks = [others[int(i)] for i in rng.choice(len(others), 3, replace=False)]
    where = int(rng.integers(0, 4))
    picks.insert(where, img)
    fill = rng.random() < 0.5
    for i, p in enumerate(picks):
        if fill:
            q = center_crop_aspect(p, 1.0).resize((cell, cell), Image.Resampling.BICUBIC)
            off = (0, 0)
        else:
            q = ImageOps.contain(p, (cell, cell), Image.Resampling.BICUBIC)
            off = ((cell - q.width) // 2, (cell - q.height) // 2)
        canvas.paste(
            q, (gut + (i % 2) * (cell + gut) + off[0], gut + (i // 2) * (cell + gut) + off[1])
        )
    return jpeg(canvas, 85)


# ------------------------------------------------------- round 2: the blind spots


def _random_crop(img: Image.Image, rng: Rng, lo: float, hi: float) -> Image.Image:
    """Crop keeping lo-hi of each side (independently), at a random place."""
    w, h = img.size
    cw, ch = round(w * rng.uniform(lo, hi)), round(h * rng.uniform(lo, hi))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def t_mirror_crop(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """A front-camera selfie (saved mirrored), then cropped: to a square, a 4:5 or 9:16
    slot, or freely; sometimes also recoloured or downscaled."""
    out = ImageOps.mirror(img)
    k = int(rng.integers(0, 4))
    if k == 0:
        out = center_crop_aspect(out, 1.0)
    elif k == 1:
        out = center_crop_aspect(out, float(rng.choice([4 / 5, 9 / 16, 3 / 4])))
    elif k == 2:
        out = _random_crop(out, rng, 0.55, 0.85)
    else:
        out = _random_crop(center_crop_aspect(out, 1.0), rng, 0.6, 0.9)
    if rng.random() < 0.3:
        out = ImageOps.grayscale(out).convert("RGB")
    if rng.random() < 0.4:
        f = float(rng.uniform(0.5, 0.9))
        out = out.resize((max(8, round(out.width * f)), max(8, round(out.height * f))))
    return jpeg(out, int(rng.choice([60, 75, 85])))


def t_crop45(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    return _crop(img, rng, 0.45)


def t_nested(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """A chat screenshot holding a feed (or chat or story) screenshot: the photo is small and
    encoded twice."""
    k = rng.random()
    if k < 0.6:
        inner = _finish_screenshot(feed_screenshot(img, rng)[0], rng)
    elif k < 0.8:
        inner = _finish_screenshot(chat_screenshot(img, rng)[0], rng)
    else:
        inner = t_story(img, rng, ())
    if rng.random() < 0.3:  # the sender cropped the inner screenshot around the post
        inner = _random_crop(inner, rng, 0.75, 1.0)
    outer, _box = chat_screenshot(inner, rng)
    return _finish_screenshot(outer, rng)


def _slot_template(img: Image.Image, rng: Rng) -> Image.Image:
    """An app page whose photo slot has a fixed aspect: the photo is cropped to fill it."""
    W = int(rng.choice([720, 828, 1080, 1170, 1280, 1440]))
    portrait = rng.random() < 0.7
    H = int(W * float(rng.choice([16 / 9, 19.5 / 9]))) if portrait else int(W * 0.62)
    col = theme(rng)
    canvas = Image.new("RGB", (W, H), col["bg"])
    draw = ImageDraw.Draw(canvas)
    sb = int(min(W, H) * 0.06)
    status_bar(draw, W, sb, col, rng)
    aspect = float(rng.choice([1.0, 4 / 5, 9 / 16, 16 / 9, 3 / 4, 2.0]))
    side = float(rng.uniform(0.05, 0.25))
    sw = round(W * (1 - 2 * side * float(rng.random() < 0.5)))
    sh = round(sw / aspect)
    if sh > H * 0.75:
        sh = round(H * 0.75)
        sw = round(sh * aspect)
    x = (W - sw) // 2
    y = int(sb + (H - sb - sh) * float(rng.uniform(0.1, 0.5)))
    photo = center_crop_aspect(img, aspect)
    if rng.random() < 0.4:  # the template zooms in, too
        photo = center_crop_aspect(_random_crop(photo, rng, 0.75, 0.95), aspect)
    canvas.paste(photo.resize((sw, sh), Image.Resampling.BICUBIC), (x, y))
    f = font(int(W * 0.035))
    draw.text((int(W * 0.04), sb + 10), sentence(rng, 2).capitalize(), fill=col["fg"], font=f)
    ty = y + sh + int(W * 0.03)
    while ty < H - int(W * 0.1):
        draw.text((int(W * 0.04), ty), sentence(rng, 6), fill=col["sub"], font=f)
        ty += int(W * 0.05)
    return canvas


def t_template_crop(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """A screenshot whose template crops the photo to fill its slot (AugLy's templates
    for a fifth, app pages with 1:1, 4:5, 3:4, 9:16, 16:9 or 2:1 slots otherwise)."""
    if rng.random() < 0.2 and (AUGLY_TEMPLATES / "screenshot_templates").is_dir():
        return augly_template(img, rng)
    return _finish_screenshot(_slot_template(img, rng), rng)


def t_grid3(img: Image.Image, rng: Rng, others: Sequence[Image.Image]) -> Image.Image:
    """The photo as a thumbnail in a 3x3 grid (a profile page or a collage)."""
    cell = int(rng.choice([180, 240, 300, 360]))
    gut = int(rng.choice([0, 2, 4, 10]))
    bgc = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    n = 3 * cell + 4 * gut
    canvas = Image.new("RGB", (n, n), bgc)
    picks = [others[int(i)] for i in rng.choice(len(others), 8, replace=False)]
    picks.insert(int(rng.integers(0, 9)), img)
    fill = rng.random() < 0.7
    for i, p in enumerate(picks):
        if fill:
            q = center_crop_aspect(p, 1.0).resize((cell, cell), Image.Resampling.BICUBIC)
            off = (0, 0)
        else:
            q = ImageOps.contain(p, (cell, cell), Image.Resampling.BICUBIC)
            off = ((cell - q.width) // 2, (cell - q.height) // 2)
        canvas.paste(
            q, (gut + (i % 3) * (cell + gut) + off[0], gut + (i // 3) * (cell + gut) + off[1])
        )
    if rng.random() < 0.5:  # a profile page around the grid
        col = theme(rng)
        page = Image.new("RGB", (n, n + n // 2), col["bg"])
        draw = ImageDraw.Draw(page)
        draw.ellipse((n // 20, n // 20, n // 4, n // 4), fill=(180, 120, 90))
        draw.text((n // 3, n // 10), sentence(rng, 2), fill=col["fg"], font=font(n // 25))
        draw.text((n // 20, n // 3.5), sentence(rng, 7), fill=col["sub"], font=font(n // 32))
        page.paste(canvas, (0, n // 2 - n // 8))
        canvas = page
    return _finish_screenshot(canvas, rng)


def t_perspective(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """A perspective warp (a photo of a screen, a tilted page): corners moved 4-18 %."""
    w, h = img.size
    amount = float(rng.uniform(0.04, 0.18))
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    shift = rng.uniform(0, amount, (4, 2)) * np.array([w, h])
    sign = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = src + sign * shift
    coeffs = _perspective_coeffs(dst, src)
    fill = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
    out = img.transform(
        (w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=fill
    )
    if rng.random() < 0.5:
        out = _random_crop(out, rng, 0.8, 1.0)
    return jpeg(out, int(rng.choice([70, 85])))


def _perspective_coeffs(out_pts: np.ndarray, in_pts: np.ndarray) -> tuple[float, ...]:
    """PIL's 8 coefficients mapping output pixels to input pixels."""
    rows = []
    for (x, y), (u, v) in zip(out_pts, in_pts, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    sol = np.linalg.solve(np.array(rows, float), in_pts.reshape(8))
    return tuple(float(c) for c in sol)


def _emoji(draw: ImageDraw.ImageDraw, x: int, y: int, r: int, rng: Rng) -> None:
    face = [(255, 204, 0), (255, 90, 90), (120, 200, 255)][int(rng.integers(0, 3))]
    box = (x - r, y - r, x + r, y + r)
    draw.ellipse(box, fill=face, outline=(90, 60, 0), width=max(1, r // 12))
    e = max(1, r // 5)
    for dx in (-r // 3, r // 3):
        draw.ellipse((x + dx - e, y - r // 4 - e, x + dx + e, y - r // 4 + e), fill=(40, 30, 0))
    draw.arc((x - r // 2, y - r // 4, x + r // 2, y + r // 2), 20, 160, fill=(40, 30, 0), width=e)


def _edit(img: Image.Image, name: str, rng: Rng) -> Image.Image:
    """One of the edits DISC21's queries were made of."""
    from PIL import ImageEnhance

    w, h = img.size
    if name == "crop":
        return _random_crop(img, rng, 0.6, 0.9)
    if name == "rotate":
        angle = float(rng.uniform(-20, 20))
        return img.rotate(angle, Image.Resampling.BICUBIC, expand=bool(rng.random() < 0.5))
    if name == "pad":
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        p = [round(s * float(rng.uniform(0, 0.25))) for s in (w, h, w, h)]
        return ImageOps.expand(img, tuple(p), fill=c)  # type: ignore[arg-type]
    if name == "colour":
        k = float(rng.choice([0.5, 0.7, 1.4, 1.8]))
        enh = [ImageEnhance.Color, ImageEnhance.Contrast, ImageEnhance.Brightness]
        return enh[int(rng.integers(0, 3))](img).enhance(k)
    if name == "blur":
        return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.0, 3.0))))
    if name == "sharpen":
        return ImageEnhance.Sharpness(img).enhance(float(rng.uniform(2.0, 4.0)))
    if name == "grey":
        return ImageOps.grayscale(img).convert("RGB")
    if name == "aspect":
        f = float(rng.choice([0.6, 0.75, 1.33, 1.6]))
        return img.resize((max(8, round(w * f)), h), Image.Resampling.BILINEAR)
    if name == "skew":
        k = float(rng.uniform(-0.25, 0.25))
        return img.transform(
            (w + round(abs(k) * h), h),
            Image.Transform.AFFINE,
            (1, k, -abs(k) * h if k > 0 else 0, 0, 1, 0),
            Image.Resampling.BICUBIC,
        )
    if name == "stripes":
        out = img.copy()
        draw = ImageDraw.Draw(out)
        n, c = int(rng.integers(3, 9)), tuple(int(v) for v in rng.integers(0, 256, 3))
        t = max(2, round(min(w, h) * float(rng.uniform(0.01, 0.04))))
        for i in range(n):
            y = round(h * (i + 0.5) / n)
            draw.rectangle((0, y, w, y + t), fill=c)  # type: ignore[arg-type]
        return out
    if name == "noise":
        a = np.asarray(img).astype(np.float32)
        a += rng.normal(0, float(rng.uniform(8, 25)), a.shape)
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if name == "jpeg":
        return jpeg(img, int(rng.integers(15, 41)))
    if name == "mirror":
        return ImageOps.mirror(img)
    out = img.copy()  # emoji
    draw = ImageDraw.Draw(out)
    for _i in range(int(rng.integers(1, 4))):
        r = round(min(w, h) * float(rng.uniform(0.06, 0.18)))
        _emoji(draw, int(rng.integers(0, w)), int(rng.integers(0, h)), r, rng)
    return out


EDITS = (
    "crop rotate pad colour blur sharpen grey aspect skew stripes noise jpeg mirror emoji"
).split()


def t_chain3(img: Image.Image, rng: Rng, _: Sequence[Image.Image]) -> Image.Image:
    """Three distinct random edits in a row, as DISC21's queries were made."""
    out = img
    for name in rng.choice(EDITS, 3, replace=False):
        out = _edit(out, str(name), rng)
    return jpeg(out, 85)


FAMILIES: dict[str, Transform] = {
    "jpeg": t_jpeg,
    "resize": t_resize,
    "colour": t_colour,
    "blur_noise": t_blur_noise,
    "text_overlay": t_text,
    "mirror": t_mirror,
    "rot90": t_rot90,
    "rotate_7": t_rot7,
    "crop_80": t_crop80,
    "crop_60": t_crop60,
    "story_9x16": t_story,
    "feed_screenshot": t_feed,
    "chat_screenshot": t_chat,
    "cropped_screenshot": t_cropped_screenshot,
    "collage_2x2": t_collage,
    "mirror_crop": t_mirror_crop,
    "nested_screenshot": t_nested,
    "template_crop": t_template_crop,
    "chain_3_edits": t_chain3,
    "crop_45": t_crop45,
    "grid_3x3": t_grid3,
    "perspective": t_perspective,
}
