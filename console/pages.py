"""Render the console's pages with Jinja2 and answer them with the console's security headers.

Every page is escaped by default; a page never holds inline script or style,
and the Content-Security-Policy says so, so markup smuggled into a URL or a
case number is shown as text and can never run.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from empreinte.console.i18n import Language, translate
from empreinte.store.registry import utc

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "svg"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["age"] = age
    return env


def when(value: dt.datetime | None) -> str:
    """Show a moment as ``2026-03-02 09:00 UTC``."""
    return "—" if value is None else utc(value).strftime("%Y-%m-%d %H:%M UTC")


def age(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """Show how long ago ``value`` was, in days or hours."""
    if value is None:
        return "—"
    delta = (now or dt.datetime.now(dt.UTC)) - utc(value)
    hours = max(0, int(delta.total_seconds() // 3600))
    return f"{hours // 24} d" if hours >= 48 else f"{hours} h"


def render(
    request: Request,
    template: str,
    language: Language,
    *,
    code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` in ``language`` and answer it with the console's headers."""

    def t(key: str, **values: object) -> str:
        return translate(language, key, **values)

    page = (
        environment()
        .get_template(template)
        .render(t=t, lang=language, path=request.url.path, **context)
    )
    return HTMLResponse(page, status_code=code, headers=HEADERS)
