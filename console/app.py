"""Build the console as an app mounted at ``/console`` by :func:`empreinte.api.app.create_app`.

The console has its own error pages (HTML, in the reader's language) and its
own security headers, so it is a mounted sub-application rather than routes of
the API: the API keeps answering problem+json. It shares the API's state (the
database and the index follower) through ``parent``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from empreinte.console import auth, cases, contacts, notices, queue, settings, signin, stats
from empreinte.console.pages import HEADERS, render
from empreinte.errors import EmpreinteError, FingerprintFileError
from empreinte.store.registry import Conflict, NotFound


def create_console(parent: FastAPI) -> FastAPI:
    """Return the console app; ``parent`` holds the running service's state."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.parent = parent
    console.state.statistics = {}
    static = StaticFiles(directory=Path(__file__).parent / "static")
    console.mount("/static", static, name="static")
    for module in (signin, cases, queue, notices, stats, settings, contacts):
        console.include_router(module.router)
    _errors(console)
    return console


def _errors(console: FastAPI) -> None:
    @console.exception_handler(auth.SignInNeeded)
    async def _sign_in(request: Request, _exc: auth.SignInNeeded) -> Response:
        if request.method == "GET":
            return RedirectResponse("/console/sign-in", status_code=303, headers=HEADERS)
        return signin.page(request, auth.guest_language(request), "signin.expired", status=401)

    @console.exception_handler(auth.ForgedRequest)
    async def _forged(request: Request, _exc: auth.ForgedRequest) -> Response:
        return _error(request, 403, "error.forged")

    @console.exception_handler(auth.Forbidden)
    async def _forbidden(request: Request, _exc: auth.Forbidden) -> Response:
        return _error(request, 403, "error.forbidden")

    @console.exception_handler(EmpreinteError)
    async def _domain(request: Request, exc: EmpreinteError) -> Response:
        if isinstance(exc, NotFound):
            return _error(request, 404, "error.not_found")
        status = 409 if isinstance(exc, Conflict) else 422
        detail = "; ".join(exc.problems[:5]) if isinstance(exc, FingerprintFileError) else str(exc)
        return _error(request, status, "error.refused", detail=detail)

    @console.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        return _error(request, 422, "error.invalid")

    @console.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(
            request,
            exc.status_code,
            "error.not_found" if exc.status_code == 404 else "error.invalid",
        )


def _error(request: Request, status: int, key: str, detail: str = "") -> Response:
    language = auth.guest_language(request)
    token = request.cookies.get(auth.COOKIE)
    me = None
    if token:
        try:
            who = auth.person(request)
            language, me = who.language, who
        except auth.SignInNeeded:
            pass
    return render(request, "error.html", language, code=status, message=key, detail=detail, me=me)
