"""Serve the victim's page at ``/protect`` from the files :func:`build_site` makes."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from empreinte.web.site import build_site, content_type, policy

router = APIRouter(tags=["victim's page"], include_in_schema=False)


@cache
def _site() -> dict[str, bytes]:
    return build_site()


def _headers(path: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": policy() + "; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    headers["Cache-Control"] = "no-store" if path.endswith(".html") else "public, max-age=3600"
    return headers


@router.get("/protect")
def choose(request: Request) -> RedirectResponse:
    """Send the visitor to the page in their language (French or English)."""
    wanted = request.headers.get("accept-language", "").lower()
    language = "fr" if wanted.startswith("fr") else "en"
    return RedirectResponse(f"/protect/{language}/", status_code=307)


@router.get("/protect/{path:path}")
def page(path: str) -> Response:
    """Serve one file of the page."""
    if path == "" or path.endswith("/"):
        path += "index.html"
    data = _site().get(path)
    if data is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    return Response(data, media_type=content_type(path), headers=_headers(path))
