"""Behaviour of the robust matcher: re-posts are found with their box, strangers are not,
fingerprints stay small, and hostile inputs get a quick answer, never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from empreinte.errors import SignalError
from empreinte.hashing.robust.features import MAX_SERIALIZED, LocalFeatures, extract
from empreinte.hashing.robust.hamming import two_nearest
from empreinte.hashing.robust.matcher import Match, on_one_circle
from empreinte.hashing.robust.regions import propose
from empreinte.index.robust import RobustMatcher

EVALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "evaldata"


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A synthetic 'photo': a smooth gradient with random shapes, corners at many scales."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [40 + 120 * (xx / w), 60 + 100 * (yy / h), 90 + 60 * np.sin(xx / 57.0 + yy / 91.0)], axis=2
    )
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(90):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        sx, sy = int(rng.integers(8, w // 5)), int(rng.integers(8, h // 5))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.rectangle((x0, y0, x0 + sx, y0 + sy), fill=fill)
        elif kind == 1:
            draw.ellipse((x0, y0, x0 + sx, y0 + sy), fill=fill)
        else:
            draw.polygon([(x0, y0), (x0 + sx, y0 + sy // 3), (x0 + sx // 2, y0 + sy)], fill=fill)
    return img


def screenshot(
    photo: Image.Image, at: tuple[int, int], width: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A dark-theme feed screenshot with the photo at ``at`` scaled to ``width``."""
    canvas = Image.new("RGB", (720, 1400), (12, 12, 12))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 720, 90), fill=(30, 30, 30))
    draw.text((30, 30), "someone_posted  2h", fill="white")
    h = round(photo.height * width / photo.width)
    canvas.paste(photo.resize((width, h), Image.Resampling.BICUBIC), at)
    draw.text((30, at[1] + h + 30), "look at this lol #repost", fill="white")
    for i in range(5):
        draw.ellipse(
            (30 + 90 * i, at[1] + h + 80, 80 + 90 * i, at[1] + h + 130), outline="white", width=3
        )
    return np.asarray(canvas), (at[0], at[1], width, h)


@pytest.fixture(scope="module")
def matcher() -> RobustMatcher:
    m = RobustMatcher()
    for seed in range(5):
        rgb = np.asarray(scene(seed))
        m.add(f"photo-{seed}", extract(rgb))
    return m


def _found(matches: list[Match], fid: str) -> Match | None:
    return next((m for m in matches if m.key == fid), None)


def test_screenshot_is_found_with_its_box(matcher: RobustMatcher) -> None:
    query, (x, y, w, h) = screenshot(scene(2), (60, 300), 560)
    match = _found(matcher.query(query), "photo-2")
    assert match is not None
    assert 0.5 < match.confidence <= 1.0
    assert match.signal == "orb"
    bx, by, bw, bh = match.box
    assert abs(bx - x) < 0.1 * w and abs(by - y) < 0.1 * h
    assert abs(bw - w) < 0.1 * w and abs(bh - h) < 0.1 * h


def test_crop_and_rotation_are_found_by_local_features(matcher: RobustMatcher) -> None:
    photo = scene(3)
    cropped = photo.crop((100, 50, 100 + 384, 50 + 288)).rotate(
        7, resample=Image.Resampling.BICUBIC
    )
    match = _found(matcher.query(np.asarray(cropped)), "photo-3")
    assert match is not None and match.signal == "orb"
    assert match.inliers is not None and match.inliers >= 14


def test_unrelated_image_is_not_found(matcher: RobustMatcher) -> None:
    query, _ = screenshot(scene(99), (0, 200), 720)
    assert matcher.query(query) == []
    assert matcher.query(np.asarray(scene(98))) == []


def test_removed_image_is_no_longer_found() -> None:
    m = RobustMatcher()
    rgb = np.asarray(scene(7))
    m.add("a", extract(rgb))
    assert _found(m.query(rgb), "a") is not None
    m.remove("a")
    assert m.query(rgb) == []
    assert len(m) == 0


def test_fingerprint_is_small_and_round_trips() -> None:
    feats = extract(np.asarray(scene(1, (3000, 2000))))
    text = feats.to_text()
    assert len(text) <= MAX_SERIALIZED
    assert len(feats.to_bytes()) <= 16 * 1024
    back = LocalFeatures.from_text(text)
    assert np.array_equal(back.descriptors, feats.descriptors)
    assert np.array_equal(back.points, feats.points)
    assert (back.width_q, back.height_q) == (feats.width_q, feats.height_q)
    assert len(feats) <= 256
    assert feats.points.max() < feats.grid


@pytest.mark.parametrize("data", [b"", b"EO", b"XX" + bytes(10), bytes(8) + b"\x00" * 5])
def test_malformed_features_are_refused(data: bytes) -> None:
    with pytest.raises(SignalError):
        LocalFeatures.from_bytes(data)


def _ui_only() -> np.ndarray:
    canvas = Image.new("RGB", (1080, 2340), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(40):
        draw.text(
            (40, 60 + 55 * i),
            f"message number {i}: see you at eight, bring the charger",
            fill="black",
        )
        draw.rounded_rectangle(
            (20, 50 + 55 * i, 1000, 100 + 55 * i), radius=20, outline=(200, 200, 200)
        )
    return np.asarray(canvas)


def _many_photo_collage() -> np.ndarray:
    tiles = [scene(100 + i, (64, 48)) for i in range(200)]
    canvas = Image.new("RGB", (20 * 64, 10 * 48))
    for i, t in enumerate(tiles):
        canvas.paste(t, ((i % 20) * 64, (i // 20) * 48))
    return np.asarray(canvas)


def _grid_400() -> np.ndarray:
    canvas = Image.new("RGB", (20 * 40, 20 * 30))
    for i in range(400):
        tile = scene(300 + i % 50, (80, 60)).resize((40, 30))
        canvas.paste(tile, ((i % 20) * 40, (i // 20) * 30))
    return np.asarray(canvas)


def _nested(photo: Image.Image, levels: int) -> np.ndarray:
    """A screenshot of a screenshot (of a screenshot...) of ``photo``."""
    inner = photo
    for _ in range(levels):
        shot, _box = screenshot(inner, (80, 200), 560)
        inner = Image.fromarray(shot)
    return np.asarray(inner)


def _stripes() -> np.ndarray:
    a = np.zeros((600, 800, 3), np.uint8)
    a[:, ::8] = 255
    a[:, 1::8] = 255
    return a


HOSTILE = {
    "tiny": lambda: np.full((3, 5, 3), 77, np.uint8),
    "one_pixel": lambda: np.zeros((1, 1, 3), np.uint8),
    "blank": lambda: np.full((900, 700, 3), 255, np.uint8),
    "single_colour": lambda: np.full((500, 500, 3), (200, 30, 90), np.uint8),
    "stripes": _stripes,
    "ui_only": _ui_only,
    "collage_200": _many_photo_collage,
    "grid_400": _grid_400,
    "screenshot_of_screenshot_of_screenshot": lambda: _nested(scene(97), 3),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_inputs_answer_quickly_without_match(matcher: RobustMatcher, name: str) -> None:
    rgb = HOSTILE[name]()
    assert matcher.query(rgb) == []
    extract(rgb)  # the registered side copes too (few or no features)


def test_long_strip_is_refused_or_answered() -> None:
    m = RobustMatcher()
    strip = np.tile(np.asarray(scene(5, (400, 200))), (1, 50, 1))  # 20000 x 200
    with pytest.raises(ValueError, match="elongated"):
        m.query(strip)


def test_wrong_array_is_refused(matcher: RobustMatcher) -> None:
    with pytest.raises(ValueError):
        matcher.query(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        matcher.query(np.zeros((10, 10, 3), np.float32))


@pytest.mark.xfail(
    reason="known weakness: flat-shaded photos split into detail blocks", strict=False
)
def test_regions_find_the_photo_in_a_screenshot() -> None:
    query, (x, y, w, h) = screenshot(scene(4), (80, 260), 520)
    boxes = propose(query)
    assert boxes[0] == (0, 0, query.shape[1], query.shape[0])

    def iou(b: tuple[int, int, int, int]) -> float:
        ix = max(0, min(b[0] + b[2], x + w) - max(b[0], x))
        iy = max(0, min(b[1] + b[3], y + h) - max(b[1], y))
        return ix * iy / (b[2] * b[3] + w * h - ix * iy)

    assert max(iou(b) for b in boxes) > 0.8


@pytest.mark.skipif(not (EVALDATA / "augly").is_dir(), reason="evaldata not present")
def test_augly_screenshot_pair() -> None:
    ref = np.asarray(Image.open(EVALDATA / "augly/image_tests/inputs/dfdc_1.jpg").convert("RGB"))
    q = Image.open(
        EVALDATA / "augly/image_tests/dfdc_expected_output/test_overlay_onto_screenshot.png"
    )
    m = RobustMatcher()
    m.add("dfdc", extract(ref))
    assert _found(m.query(np.asarray(q.convert("RGB"))), "dfdc") is not None


def test_inliers_along_one_circle_are_a_degenerate_match() -> None:
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 20)
    rim = np.column_stack([60 + 9 * np.cos(angle), 40 + 9 * np.sin(angle)])
    rim += rng.normal(0, 0.2, rim.shape)
    assert on_one_circle(rim.astype(np.float32))
    scattered = rng.uniform(0, 127, (20, 2)).astype(np.float32)
    assert not on_one_circle(scattered)
    line = np.column_stack([np.arange(20.0), 2 * np.arange(20.0)]).astype(np.float32)
    assert not on_one_circle(line)  # collinear points are left to the spread check


def test_two_nearest_is_the_brute_force_hamming_answer() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    queries = np.concatenate([base[:5] ^ 1, rng.integers(0, 256, (40, 32), dtype=np.uint8)])
    dist, idx = two_nearest(queries, base)
    full = np.unpackbits(queries[:, None, :] ^ base[None, :, :], axis=2).sum(axis=2)
    order = np.argsort(full, axis=1, kind="stable")[:, :2]
    assert np.array_equal(idx, order)
    assert np.array_equal(dist, np.take_along_axis(full, order, axis=1))
    assert list(idx[:5, 0]) == [0, 1, 2, 3, 4] and set(dist[:5, 0]) == {32}
    _, lone = two_nearest(queries[:2], base[:1])
    assert list(lone[:, 1]) == [-1, -1]
    with pytest.raises(ValueError):
        two_nearest(queries[:, :31], base[:, :31])


def test_mirrored_crop_is_found_by_local_features(matcher: RobustMatcher) -> None:
    selfie = scene(3).transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((90, 40, 560, 420))
    match = _found(matcher.query(np.asarray(selfie)), "photo-3")
    assert match is not None and match.inliers >= 14
    assert "mirrored" in match.detail
    bx, by, _, _ = match.box
    assert abs(bx) <= 8 and abs(by) <= 8  # the crop's window onto the photo starts at 0, 0


def test_mirrored_and_rotated_photo_is_found(matcher: RobustMatcher) -> None:
    turned = scene(1).transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(90, expand=True)
    assert _found(matcher.query(np.asarray(turned)), "photo-1") is not None


def test_image_that_is_its_own_mirror_matches_once() -> None:
    half = np.asarray(scene(11, (320, 480)))
    symmetric = np.ascontiguousarray(np.concatenate([half, half[:, ::-1]], axis=1))
    m = RobustMatcher()
    m.add("sym", extract(symmetric))
    found = m.query(symmetric)
    assert [x.key for x in found] == ["sym"]


def test_photo_in_a_screenshot_of_a_screenshot_is_found(matcher: RobustMatcher) -> None:
    assert _found(matcher.query(_nested(scene(4), 2)), "photo-4") is not None
