"""URL normalisation, trap shapes, and the HTML extractor, without a network."""

from __future__ import annotations

import pytest

from empreinte.crawler.extract import find, links_of, srcset
from empreinte.crawls.jobs import Entry, Plan
from empreinte.crawls.limits import CrawlLimits, Scope
from empreinte.net import urls
from empreinte.net.sniff import image_type, is_html
from empreinte.store.models.crawls import Kind
from tests.conftest import encode, photo


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM:80/a/./b/../c?b=2&a=1#frag", "http://example.com/a/c?a=1&b=2"),
        ("https://example.com:443", "https://example.com/"),
        ("http://example.com:8080/x/", "http://example.com:8080/x/"),
        ("http://user:pw@example.com/", "http://example.com/"),
        ("http://example.com/%7euser/%2f%41", "http://example.com/~user/%2FA"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com/p?PHPSESSID=1&x=2&utm_source=t", "http://example.com/p?x=2"),
        ("http://example.com/p;jsessionid=ABC?sid=9", "http://example.com/p"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://example.com/100%", "http://example.com/100%25"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert urls.normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["mailto:a@b.c", "javascript:alert(1)", "data:image/png;base64,AAAA", "ftp://x/", "http://"],
)
def test_what_is_not_fetched_normalises_to_none(raw: str) -> None:
    assert urls.normalise(raw) is None


def test_relative_urls_resolve_against_the_base() -> None:
    assert urls.normalise("../img/x.jpg", "http://e.org/a/b/") == "http://e.org/a/img/x.jpg"


def test_a_calendar_or_a_session_id_is_one_pattern() -> None:
    assert urls.pattern("http://e.org/cal/2024/1") == urls.pattern("http://e.org/cal/2031/12")
    assert urls.pattern("http://e.org/t?id=1&p=2") == urls.pattern("http://e.org/t?p=9&id=7")
    assert urls.pattern("http://e.org/t/1") != urls.pattern("http://e.org/u/1")


def test_path_traps() -> None:
    assert urls.path_trap("http://e.org/" + "/".join("abcdefghijklmnopq"), 16) == "path_depth"
    assert urls.path_trap("http://e.org/a/b/a/b/a/b/a/b/", 16) == "path_repeat"
    assert urls.path_trap("http://e.org/a/b/c", 16) is None


def test_srcset_candidates() -> None:
    assert srcset("a.jpg 1x, b.jpg 2x") == ["a.jpg", "b.jpg"]
    assert srcset("a.jpg 480w,b.jpg 800w") == ["a.jpg", "b.jpg"]
    assert srcset(" x,y.jpg, z.jpg 2x") == ["x,y.jpg", "z.jpg"]


def test_every_image_source_is_found() -> None:
    page = """<html><head><base href="/base/">
    <meta property="og:image" content="http://cdn.example/og.jpg">
    <meta name="twitter:image" content="tw.jpg">
    <style>.hero { background: #000 url("hero.png") no-repeat; } @font-face { src: url(f.woff) }
    </style></head><body>
    <img src="a.jpg" srcset="a2.jpg 2x" data-src="lazy.jpg">
    <picture><source srcset="p.webp 1x, p2.webp 2x" type="image/webp"><img src="p.jpg"></picture>
    <video><source src="movie.mp4"></video>
    <div style="background-image:url(bg.jpg)"></div>
    <a href="full.JPEG?size=l">full</a> <a href="next.html">next</a>
    <img src="data:image/png;base64,AAAA">
    """
    found = find(page, "http://e.org/dir/page", 100, 100)
    base = "http://e.org/base/"
    expected = ["http://cdn.example/og.jpg", "tw.jpg", "hero.png", "a.jpg", "lazy.jpg", "a2.jpg"]
    expected += ["p.webp", "p2.webp", "p.jpg", "movie.mp4", "bg.jpg", "full.JPEG?size=l"]
    assert found.images == [u if u.startswith("http") else base + u for u in expected]
    assert found.pages == [base + "next.html"]


def test_nofollow_keeps_images_and_drops_page_links() -> None:
    entry = Entry(1, 1, "http://e.org/", Kind.PAGE, 0, 0, None, 1)
    plan = Plan(1, None, CrawlLimits(), Scope(("e.org",)))
    body = b'<meta name="robots" content="noindex, nofollow"><a href="/x">x</a><img src="/i.png">'
    links, dropped = links_of(body, "text/html", entry, plan)
    assert [(link.url, link.kind) for link in links] == [("http://e.org/i.png", Kind.IMAGE)]
    assert dropped == {"nofollow": 1}


def test_links_are_filtered_by_scope_depth_and_traps() -> None:
    entry = Entry(1, 1, "http://e.org/a/", Kind.PAGE, 1, 0, None, 1)
    plan = Plan(1, None, CrawlLimits(max_depth=2), Scope(("e.org",)))
    body = (
        b'<a href="/in">in</a><a href="http://sub.e.org/s">sub</a>'
        b'<a href="http://other.org/o">out</a><a href="/a/b/a/b/a/b/a/b/">trap</a>'
        b'<img src="http://cdn.other.org/i.jpg">'
    )
    links, dropped = links_of(body, "text/html", entry, plan)
    assert {link.url for link in links} == {
        "http://e.org/in",
        "http://sub.e.org/s",
        "http://cdn.other.org/i.jpg",
    }
    assert dropped == {"out_of_scope": 1, "path_repeat": 1}
    deeper = Entry(1, 1, "http://e.org/a/", Kind.PAGE, 2, 0, None, 1)
    links, dropped = links_of(body, "text/html", deeper, plan)
    assert {link.kind for link in links} == {Kind.IMAGE}
    assert dropped["max_depth"] == 4


def test_a_page_of_100000_links_is_capped() -> None:
    body = "".join(f"<a href=/p/{i}>{i}</a>" for i in range(100_000)).encode()
    entry = Entry(1, 1, "http://e.org/", Kind.PAGE, 0, 0, None, 1)
    plan = Plan(1, None, CrawlLimits(max_links_per_page=1000), Scope(("e.org",)))
    links, dropped = links_of(body, "text/html", entry, plan)
    assert len(links) == 1000
    assert dropped["links_per_page"] == 1


def test_charset_is_honoured() -> None:
    entry = Entry(1, 1, "http://e.org/", Kind.PAGE, 0, 0, None, 1)
    plan = Plan(1, None, CrawlLimits(), Scope(("e.org",)))
    body = '<meta charset="iso-8859-1"><a href="/café">x</a>'.encode("latin-1")
    links, _ = links_of(body, "text/html", entry, plan)
    assert [link.url for link in links] == ["http://e.org/caf%C3%A9"]


def test_sniffing_reads_bytes_not_names() -> None:
    assert image_type(encode(photo(1))) == "image/jpeg"
    assert image_type(encode(photo(1), "PNG")) == "image/png"
    assert image_type(encode(photo(1), "WEBP")) == "image/webp"
    assert image_type(b"<html>") is None
    assert is_html(b"  <!DOCTYPE html><html>", "application/octet-stream")
    assert is_html(b"hello", "text/html; charset=utf-8")
    assert not is_html(b"\x00\x01binary", "text/html")
    assert not is_html(b"just text", "text/plain")
