"""Tell images and web pages apart from their first bytes, never from the name or the header alone.

Hostile and sloppy servers alike lie in ``Content-Type``: file hosts send
images as ``application/octet-stream``, leak sites send HTML as ``image/jpeg``.
Images are recognised by their magic bytes (the formats the decoder reads);
HTML by a declared HTML type, or by the tags the WHATWG sniffing algorithm
looks for at the start of the body.
"""

from __future__ import annotations

from typing import Final

SNIFF_BYTES: Final = 512
"""How many leading bytes are enough to decide."""

_MAGIC: Final = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
_HEIF_BRANDS: Final = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif")
_HTML_TAGS: Final = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<iframe",
    b"<title",
    b"<div",
    b"<a ",
    b"<p>",
    b"<img",
    b"<table",
    b"<meta",
    b"<!--",
    b"<br",
    b"<h1",
)
_HTML_TYPES: Final = ("text/html", "application/xhtml+xml")


def image_type(head: bytes) -> str | None:
    """Return the media type the magic bytes of ``head`` announce, or None."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heif"
    return None


def is_html(head: bytes, content_type: str) -> bool:
    """True when the body is a web page: declared so, or starting like one."""
    if content_type.split(";", 1)[0].strip().lower() in _HTML_TYPES:
        return b"\x00" not in head
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n\x0c").lower()
    return start.startswith(_HTML_TAGS)


def declares_image(content_type: str) -> bool:
    return content_type.strip().lower().startswith("image/")
