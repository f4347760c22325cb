"""Answer every error as RFC 9457 ``application/problem+json``, from one table.

Routes never build error responses: they raise domain errors (or
:class:`Problem`), and the table below turns each into a status and a title.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from empreinte.detection.budget import DecoderBusy
from empreinte.errors import (
    EmpreinteError,
    FingerprintFileError,
    ImageError,
    ImageTooLarge,
    InvalidSeed,
    SignalError,
)
from empreinte.hashing.video.errors import UnsupportedVideo, VideoTooLarge
from empreinte.notices.errors import InvalidAddress
from empreinte.store.registry import Conflict, NotFound

MEDIA_TYPE: Final = "application/problem+json"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An HTTP problem raised by the API layer itself (authentication, limits)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


_TABLE: Final[list[tuple[type[EmpreinteError], int, str]]] = [
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (VideoTooLarge, 413, "Video too large"),
    (UnsupportedVideo, 422, "Unusable video"),
    (ImageTooLarge, 413, "Image too large"),
    (ImageError, 422, "Unusable image"),
    (FingerprintFileError, 422, "Invalid fingerprint file"),
    (SignalError, 422, "Invalid hash"),
    (InvalidAddress, 422, "Invalid address"),
    (InvalidSeed, 422, "Invalid seed URL"),
    (EmpreinteError, 400, "Bad request"),
]


def load_json(body: bytes) -> Any:
    """Parse a JSON body; raise ``ValueError`` for bad JSON, nesting too deep included."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(EmpreinteError)
    async def _domain(_request: Request, exc: EmpreinteError) -> JSONResponse:
        if isinstance(exc, DecoderBusy):
            wait = {"Retry-After": str(round(exc.retry_after))}
            return problem_response(503, "Busy", str(exc), headers=wait)
        for kind, status, title in _TABLE:
            if isinstance(exc, kind):
                extra: dict[str, Any] = {}
                if isinstance(exc, FingerprintFileError):
                    extra["problems"] = exc.problems[:100]
                return problem_response(status, title, str(exc), **extra)
        return problem_response(400, "Bad request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()[:50]
        ]
        return problem_response(
            422, "Invalid request", "the request does not match the schema", errors=errors
        )

    @app.exception_handler(RecursionError)
    async def _nested(_request: Request, _exc: RecursionError) -> JSONResponse:
        return problem_response(422, "Invalid request", "the request body is nested too deeply")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "Internal error", "something went wrong on our side")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, str(exc.detail), headers=headers)
