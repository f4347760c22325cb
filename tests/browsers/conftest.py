"""Fixtures of the browser tests: the built engine on a loopback site, and real browsers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browsers.drivers import MODES, Browser, missing, open_browser
from tests.browsers.static import StaticSite, serve

ENGINE = Path(__file__).resolve().parents[2] / "web" / "static" / "engine"


@pytest.fixture(scope="session")
def engine_site() -> Iterator[StaticSite]:
    """Serve the built engine (``web/static/engine``) on 127.0.0.1."""
    if not (ENGINE / "worker.js").is_file():
        pytest.fail("the engine is not built: cd web/engine && npm ci && node build.mjs")
    with serve(ENGINE) as site:
        yield site


@pytest.fixture(scope="module", params=MODES)
def browser(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    """One browser per mode, shared by the tests of a module."""
    mode: str = request.param
    reason = missing(mode)
    if reason:
        pytest.skip(reason)
    driver = request.getfixturevalue("playwright") if mode.startswith("chromium") else None
    with open_browser(mode, tmp_path_factory.mktemp(mode), driver) as page:
        yield page


@pytest.fixture()
def harness(browser: Browser, engine_site: StaticSite) -> Browser:
    """The browser on a freshly loaded harness page."""
    browser.goto(f"{engine_site.base}/harness.html")
    assert browser.evaluate("document.documentElement.dataset.ready") == "1"
    return browser
