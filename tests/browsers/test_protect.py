"""The victim's page in real browsers: hash, submit, check, withdraw; nothing but fingerprints sent.

Each test runs in Chromium and Firefox, normal and private (see ``drivers``), against
a real API server on loopback whose every request (host, method, path, body) is recorded.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from empreinte.api.app import create_app, server_config
from empreinte.runtime import Runtime
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from empreinte.store.models import Role
from tests.browsers.drivers import Browser
from tests.conftest import encode, photo
from tests.servers import free_port, wait_ready


@dataclass(frozen=True, slots=True)
class Seen:
    host: str
    method: str
    path: str
    body: bytes


@dataclass(slots=True)
class Site:
    base: str
    ngo: str
    log: list[Seen] = field(default_factory=list)


class _Record:
    """Record every HTTP request the server receives, its body included (the outside view)."""

    def __init__(self, app: Any, log: list[Seen]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        self.log.append(
            Seen(headers.get(b"host", b"").decode(), scope["method"], scope["path"], body)
        )
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real API server (SQLite) that takes self-service cases, with a request log."""
    folder = tmp_path_factory.mktemp("protect")
    settings = Settings(
        data_dir=folder / "data",
        database_url=f"sqlite:///{folder / 'empreinte.db'}",
        self_service_org="E-Enfance",
        self_service_work_bits=10,
        self_service_per_client=100,
        workers=False,
    )
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    with make_sessionmaker(engine).begin() as session:
        _, ngo = create_key(session, Role.NGO, "E-Enfance")
    engine.dispose()
    port = free_port()
    log: list[Seen] = []
    app = _Record(create_app(Runtime(settings)), log)
    server = uvicorn.Server(
        server_config(app, "127.0.0.1", port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, thread.is_alive)
        yield Site(base, ngo, log)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_for(page: Browser, condition: str, value: str) -> Any:
    """Resolve to ``value`` (JavaScript) once ``condition`` holds in the page."""
    found = page.evaluate(
        "new Promise((done) => { let n = 0; const tick = () => "
        f"({condition}) ? done({{v: {value}}}) : (++n > 900 ? done(null) : setTimeout(tick, 100));"
        " tick(); })"
    )
    if found is None:
        said = page.evaluate(
            "Array.from(document.querySelectorAll('.error, [aria-live]'))"
            ".map((e) => e.id + ': ' + e.textContent).join(' | ')"
        )
        raise AssertionError(f"never true: {condition}; the page says: {said}")
    return found["v"]


def choose_files(page: Browser, files: dict[str, bytes]) -> None:
    """Put ``files`` in the page's photo input, as a person picking them would."""
    items = [{"name": n, "b64": base64.b64encode(d).decode()} for n, d in files.items()]
    page.evaluate(
        "(() => { const box = new DataTransfer();"
        f" for (const f of {json.dumps(items)}) {{"
        "  const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));"
        "  box.items.add(new File([bytes], f.name)); }"
        " const input = document.getElementById('photos'); input.files = box.files;"
        " input.dispatchEvent(new Event('change')); return true; })()"
    )


def states(page: Browser) -> dict[str, str]:
    return dict(
        page.evaluate(
            "Array.from(document.querySelectorAll('#files li')).map((li) =>"
            " [li.querySelector('.name').textContent, li.querySelector('.state').textContent])"
        )
    )


def open_page(page: Browser, url: str) -> None:
    page.goto(url)
    assert wait_for(page, "document.documentElement.dataset.ready === '1'", "true")


HOSTILE = {
    "broken.jpg": (encode(photo(5), "JPEG")[:-900], "truncated"),
    "empty.png": (b"", "empty file"),
    "letter.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "PDF"),
}


def test_submit_check_and_withdraw_sending_only_fingerprints(browser: Browser, site: Site) -> None:
    site.log.clear()
    photos = {
        "beach.jpg": encode(photo(21, (640, 480)), "JPEG", quality=92),
        "room.png": encode(photo(22, (480, 640)), "PNG"),
    }
    open_page(browser, f"{site.base}/protect/en/index.html")
    choose_files(browser, {**photos, **{n: d for n, (d, _) in HOSTILE.items()}})
    wait_for(browser, "!document.getElementById('send').hidden", "true")
    seen = states(browser)
    assert seen["beach.jpg"] == seen["room.png"] == "fingerprinted"
    for name, (_, words) in HOSTILE.items():
        assert seen[name].startswith("refused: ") and words in seen[name], (name, seen[name])
    assert "2 of 5 photos" in browser.evaluate(
        "document.getElementById('progress-text').textContent"
    )

    browser.evaluate("(document.getElementById('submit').click(), true)")
    assert browser.evaluate("document.getElementById('send').checkValidity()") is False
    assert browser.evaluate("document.getElementById('receipt').hidden") is True
    browser.evaluate(
        "(['consent', 'age'].forEach((id) => { document.getElementById(id).checked = true; }),"
        " document.getElementById('submit').click(), true)"
    )
    number, pin = wait_for(
        browser,
        "!document.getElementById('receipt').hidden",
        "[document.getElementById('case-number').textContent,"
        " document.getElementById('case-pin').textContent]",
    )
    assert number and pin
    assert browser.evaluate("document.getElementById('case-count').textContent") == "2"

    open_page(browser, f"{site.base}/protect/en/status.html")
    answer = submit_credentials(browser, number, pin, "r-status")
    assert answer == "received"
    assert browser.evaluate("document.getElementById('r-fingerprints').textContent") == "2"

    open_page(browser, f"{site.base}/protect/fr/withdraw.html")
    browser.evaluate("(document.getElementById('sure').checked = true, true)")
    said = submit_credentials(browser, number, pin, "r-explain")
    assert number in said and "retiré" in said
    with httpx.Client(base_url=site.base) as client:
        status = client.post("/v1/case-status", json={"case_number": number, "pin": pin})
    assert status.json()["status"] == "withdrawn"

    host = site.base.removeprefix("http://")
    assert site.log, "the server saw no request"
    posted = set()
    for request in site.log:
        assert request.host == host, request
        for data in (*photos.values(), *(d for d, _ in HOSTILE.values() if d)):
            assert data[len(data) // 2 : len(data) // 2 + 48] not in request.body, request.path
        if request.body:
            posted.add(request.path)
    assert posted <= {"/v1/self-service/cases", "/v1/case-status", "/v1/case-withdrawal"}
    for _method, url, _size in browser.requests():
        assert url.startswith((site.base + "/", "data:", "blob:")), url
    assert browser.console_errors() == []


def submit_credentials(page: Browser, number: str, pin: str, field_id: str) -> Any:
    """Fill the case number and PIN, send, and return the text of ``field_id`` once shown."""
    page.evaluate(
        f"(document.getElementById('number').value = {json.dumps(number)},"
        f" document.getElementById('pin').value = {json.dumps(pin)},"
        " document.querySelector('#credentials button').click(), true)"
    )
    return wait_for(
        page,
        "!document.getElementById('result').hidden",
        f"document.getElementById({json.dumps(field_id)}).textContent",
    )


def test_the_page_switches_language_and_loads_only_its_own_assets(
    browser: Browser, site: Site
) -> None:
    open_page(browser, f"{site.base}/protect/fr/index.html")
    assert browser.evaluate("document.documentElement.lang") == "fr"
    assert "Protéger mes photos" in browser.evaluate("document.querySelector('h1').textContent")
    other = browser.evaluate("document.querySelector('a.lang').href")
    assert other == f"{site.base}/protect/en/index.html"
    open_page(browser, other)
    assert "Protect my photos" in browser.evaluate("document.title")
    for _method, url, _size in browser.requests():
        assert url.startswith((site.base + "/", "data:", "blob:")), url
    assert browser.console_errors() == []


def test_the_exported_folder_is_the_same_page(tmp_path: Path) -> None:
    from empreinte.web.site import build_site, write_site

    written = write_site(tmp_path / "page", "https://api.example.org")
    assert (tmp_path / "page" / "fr" / "index.html") in written
    html = (tmp_path / "page" / "en" / "index.html").read_text()
    assert 'content="https://api.example.org"' in html
    assert "connect-src &#39;self&#39; https://api.example.org;" in html
    assert set(build_site()) == {str(p.relative_to(tmp_path / "page")) for p in written}
