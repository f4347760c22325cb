"""Build the FastAPI app: ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import uvicorn
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from empreinte import __version__
from empreinte.api import problems
from empreinte.api.limits import (
    ASGIApp,
    BodyLimit,
    Message,
    Receive,
    Scope,
    Send,
    TokenBucket,
)
from empreinte.api.routes import (
    cases,
    contacts,
    crawls,
    keys,
    negative_list,
    notices,
    notifier,
    ops,
    platform,
    quarantines,
    reports,
    self_service,
    victims,
)
from empreinte.api.schemas import MatchRequest
from empreinte.api.state import AppState, KeyCache, Metrics, Services
from empreinte.console.app import create_console
from empreinte.hashing.fingerprint_file import schema as fingerprint_schema
from empreinte.store.audit import AuditQueue
from empreinte.web import routes as protect

DESCRIPTION = """\
Empreinte finds re-posted intimate images and gets them taken down.

* **NGOs** (trusted flaggers) open cases, attach fingerprint files, follow matches.
* **Platforms** ask whether an upload is a registered image, and send feedback.
* **Victims** check their case or withdraw consent with a case number and PIN.

Authenticate with `Authorization: Bearer <key>`. Errors are RFC 9457
`application/problem+json`.
"""


def create_app(runtime: Services) -> FastAPI:
    """Return the app over ``runtime`` (see :class:`empreinte.runtime.Runtime`).

    The runtime starts with the app and stops with it: the database and the
    index open when the app starts, not when it is built.
    """
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        app.state.empreinte = AppState(
            settings=settings,
            engine=runtime.engine,
            sessions=runtime.sessions,
            follower=runtime.follower,
            rate=TokenBucket(settings.rate_per_key, settings.rate_burst),
            metrics=metrics,
            audit=AuditQueue(runtime.sessions),
            keys=KeyCache(),
            decoding=runtime.decoding,
        )
        try:
            yield
        finally:
            app.state.empreinte.audit.close()
            runtime.stop()

    metrics = Metrics()
    app = FastAPI(
        title="Empreinte",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    routers = (
        cases,
        victims,
        self_service,
        platform,
        notices,
        contacts,
        negative_list,
        quarantines,
        notifier,
    )
    for module in (*routers, reports, crawls, keys, ops, protect):
        app.include_router(module.router)
    app.mount("/console", create_console(app))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(_Observe, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    return app


def server_config(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Config:
    """Return uvicorn's configuration for ``app``: the one used by ``serve`` and the tests.

    uvicorn's own ``X-Forwarded-For`` handling is off: the app believes that
    header only from the configured ``trusted_proxies`` (see ``api/limits.py``).
    """
    return uvicorn.Config(
        app, host=host, port=port, proxy_headers=False, log_config=None, **options
    )


def _openapi(app: FastAPI) -> dict[str, object]:
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        file_schema = dict(fingerprint_schema())
        defs = file_schema.pop("$defs")
        file_schema.pop("$schema", None)
        file_schema.pop("$id", None)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        text = _rebase(file_schema)
        components["FingerprintFile"] = text
        for name, body in defs.items():
            components[f"FingerprintFile_{name}"] = _rebase(body)
        match_schema = MatchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(match_schema.pop("$defs", {}))
        components["MatchRequest"] = match_schema
        app.openapi_schema = document
    return app.openapi_schema


def _rebase(node: object) -> object:
    """Point ``#/$defs/x`` references of the file schema at OpenAPI components."""
    if isinstance(node, dict):
        return {
            k: ("#/components/schemas/FingerprintFile_" + v.rsplit("/", 1)[1])
            if k == "$ref" and isinstance(v, str)
            else _rebase(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other is ``other``, so made-up methods add no series."""


class _Observe:
    """Count requests and time them per route template, for Prometheus."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
