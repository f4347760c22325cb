"""The in-browser engine computes the CLI's fingerprint, refuses hostile files, and sends nothing.

Each test runs in Chromium and Firefox, normal and private (see ``drivers``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from empreinte.errors import ImageError
from empreinte.hashing import fingerprint_file
from empreinte.hashing.decode import decode
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.hashing.pdq import pdq_from_rgb
from empreinte.hashing.signals import SignalType
from tests.browsers.drivers import Browser
from tests.browsers.static import StaticSite
from tests.conftest import encode, photo, png_bomb

IMAGENET_STEP = 40
"""The suite checks every 40th imagenet image (25); benchmarks/browser/parity.py runs all."""

CMYK = "CMYK.jpg"
"""The one threatexchange image the browser does not decode yet (CMYK JPEG): refused, not wrong."""


def hash_in_page(
    page: Browser,
    site: StaticSite,
    files: Mapping[str, Path | bytes],
    only: list[str] | None = None,
) -> Any:
    """Serve ``files`` under /t/KEY, hash them in one worker batch (``only`` these signals)."""
    items = [{"key": key, "url": site.add(f"/t/{key}", content)} for key, content in files.items()]
    signals = json.dumps(only) if only else "undefined"
    return page.evaluate(f"window.empreinteHashUrls({json.dumps(items)}, {signals})")


def cli_pdq(data: bytes) -> str:
    """Return the CLI's PDQ hex of encoded image bytes."""
    return str(pdq_from_rgb(decode(data).rgb)[0].hex())


@cache
def cli_pdq_of(path: Path) -> str:
    """Return the CLI's PDQ hex of an image file (computed once per session)."""
    return cli_pdq(path.read_bytes())


@cache
def large_photo() -> tuple[bytes, str]:
    """Return a 12 MP JPEG photo and its CLI PDQ hex (made once per session)."""
    data = encode(photo(10, (4000, 3000)), "JPEG", quality=92)
    return data, cli_pdq(data)


def test_pdq_equals_the_cli_on_threatexchange(
    harness: Browser, engine_site: StaticSite, evaldata: Path
) -> None:
    root = evaldata / "threatexchange_pdq"
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files = {f"te{i}": p for i, p in enumerate(paths)}
    out = hash_in_page(harness, engine_site, files, ["pdq"])
    for key, path in files.items():
        if path.name == CMYK:
            assert "CMYK" in out["refused"][key]
            continue
        assert key in out["records"], f"{path}: {out['refused'].get(key)}"
        signals = out["records"][key]["signals"]
        assert signals[0]["value"] == cli_pdq_of(path), path


def test_pdq_equals_the_cli_on_imagenet(
    harness: Browser, engine_site: StaticSite, evaldata: Path
) -> None:
    paths = sorted((evaldata / "imagenet_sample").glob("*.JPEG"))[::IMAGENET_STEP]
    files = {f"in{i}": p for i, p in enumerate(paths)}
    out = hash_in_page(harness, engine_site, files, ["pdq"])
    assert out["refused"] == {}
    same = sum(out["records"][k]["signals"][0]["value"] == cli_pdq_of(p) for k, p in files.items())
    assert same == len(files)


def test_record_matches_the_cli_record(harness: Browser, engine_site: StaticSite) -> None:
    jpeg = encode(photo(3, (640, 480)), "JPEG", quality=90)
    png = encode(photo(4, (300, 200)).convert("P"), "PNG")
    out = hash_in_page(harness, engine_site, {"jpeg": jpeg, "png": png})
    for key, data in (("jpeg", jpeg), ("png", png)):
        record = out["records"][key]
        cli = fingerprint_bytes(data)
        want = {str(s.type): (str(s.value), s.quality) for s in cli.signals}
        assert cli.features is not None
        want["orb"] = (cli.features.to_text(), None)
        got = {s["type"]: (s["value"], s["quality"]) for s in record["signals"]}
        assert got == want
        assert (record["width"], record["height"], record["media_type"]) == (
            cli.width,
            cli.height,
            cli.media_type,
        )
        assert record["pipeline"] == cli.pipeline
    parsed = fingerprint_file.loads(out["file"])
    assert parsed.problems == []
    assert [r.get(SignalType.PDQ) for r in parsed.records] == [
        fingerprint_bytes(jpeg).get(SignalType.PDQ),
        fingerprint_bytes(png).get(SignalType.PDQ),
    ]
    document = json.loads(out["file"])
    assert (document["format"], document["version"]) == ("empreinte-fingerprints", 2)
    assert {r["id"] for r in document["records"]} == {
        out["records"]["jpeg"]["id"],
        out["records"]["png"]["id"],
    }


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "corrupt": (lambda: encode(photo(5), "JPEG")[:-900], "truncated"),
    "empty": (lambda: b"", "empty file"),
    "bomb": (lambda: png_bomb(20_000, 10_000), "200,000,000 pixels"),
    "video": (lambda: b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2mp41" + bytes(64), "video"),
    "pdf": (lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "PDF"),
}


def test_hostile_batch_is_refused_file_by_file(harness: Browser, engine_site: StaticSite) -> None:
    hostile = {key: make() for key, (make, _) in HOSTILE.items()}
    files: dict[str, Path | bytes] = {"good1": encode(photo(6), "JPEG"), **hostile}
    files["good2"] = encode(photo(7), "PNG")
    out = hash_in_page(harness, engine_site, files)
    assert set(out["records"]) == {"good1", "good2"}
    for key, (_, words) in HOSTILE.items():
        assert words in out["refused"][key], (key, out["refused"][key])
        with pytest.raises(ImageError):
            decode(hostile[key])
    assert len(json.loads(out["file"])["records"]) == 2
    assert harness.console_errors() == []


def test_session_sends_no_image_bytes_and_calls_no_other_host(
    harness: Browser, engine_site: StaticSite
) -> None:
    engine_site.log.clear()
    images = {"a": encode(photo(8), "JPEG"), "b": encode(photo(9), "PNG")}
    out = hash_in_page(harness, engine_site, images)
    assert set(out["records"]) == {"a", "b"}
    host = engine_site.base.removeprefix("http://")
    for method, url, body in harness.requests():
        assert url.startswith(engine_site.base + "/") or url.startswith("data:"), url
        assert (method, body) == ("GET", 0), url
    assert engine_site.log, "the server saw no request"
    for request in engine_site.log:
        assert request.host == host
        assert request.method == "GET" and request.body == b""
    assert harness.console_errors() == []


def test_large_photo_hashes_in_the_worker_without_freezing_the_page(
    harness: Browser, engine_site: StaticSite
) -> None:
    data, want = large_photo()
    engine_site.add("/t/big", data)
    run = harness.evaluate(
        "window.empreinteWithFrames(() => window.empreinteHashUrls([{key: 'big', url: '/t/big'}]))"
    )
    record = run["result"]["records"]["big"]
    assert record["signals"][0]["value"] == want
    assert run["frames"] >= 2, "no animation frame ran while hashing: the page froze"
