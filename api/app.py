"""Build the FastAPI app: ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.orm import Session, sessionmaker

from empreinte import __version__
from empreinte.api import problems
from empreinte.api.limits import (
    ASGIApp,
    BodyLimit,
    FailureWindow,
    Message,
    Receive,
    Scope,
    Send,
    TokenBucket,
)
from empreinte.api.routes import cases, crawls, keys, notices, ops, platform, victims
from empreinte.api.schemas import MatchRequest
from empreinte.api.state import AppState, KeyCache, Metrics
from empreinte.console.app import create_console
from empreinte.crawler.background import CrawlerThread
from empreinte.hashing.fingerprint_file import schema as fingerprint_schema
from empreinte.notices.channels import SmtpServer
from empreinte.notices.worker import Worker, WorkerConfig, standard_worker
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.audit import AuditQueue
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower

DESCRIPTION = """\
Empreinte finds re-posted intimate images and gets them taken down.

* **NGOs** (trusted flaggers) open cases, attach fingerprint files, follow matches.
* **Platforms** ask whether an upload is a registered image, and send feedback.
* **Victims** check their case or withdraw consent with a case number and PIN.

Authenticate with `Authorization: Bearer <key>`. Errors are RFC 9457
`application/problem+json`.
"""


def create_app(settings: Settings | None = None, *, upgrade: bool = True) -> FastAPI:
    """Return the app for ``settings``; the database and index open when it starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if upgrade:
            migrate.upgrade(settings.url)
        engine = make_engine(settings.url)
        sessions = make_sessionmaker(engine)
        follower = Follower(
            sessions,
            settings.snapshot_dir,
            interval=settings.follow_interval,
            snapshot_every=settings.snapshot_every,
        )
        app.state.empreinte = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            follower=follower,
            rate=TokenBucket(settings.rate_per_key, settings.rate_burst),
            pin_by_case=FailureWindow(settings.pin_failures_per_case, settings.pin_window),
            pin_by_client=FailureWindow(settings.pin_failures_per_client, settings.pin_window),
            metrics=metrics,
            audit=AuditQueue(sessions),
            keys=KeyCache(),
        )
        follower.start()
        worker = notice_worker(settings, sessions) if settings.workers else None
        crawling = CrawlerThread(sessions, follower, settings) if settings.workers else None
        for running in (worker, crawling):
            if running is not None:
                running.start()
        try:
            yield
        finally:
            for running in (crawling, worker):
                if running is not None:
                    running.stop()
            app.state.empreinte.audit.close()
            follower.stop()
            engine.dispose()

    metrics = Metrics()
    app = FastAPI(
        title="Empreinte",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    for module in (cases, victims, platform, notices, crawls, keys, ops):
        app.include_router(module.router)
    app.mount("/console", create_console(app))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(_Observe, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    return app


def notice_worker(settings: Settings, sessions: sessionmaker[Session]) -> Worker:
    """Return the notice worker (delivery, re-checks) configured by ``settings``."""
    smtp = None
    if settings.smtp_host:
        smtp = SmtpServer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
        )
    config = WorkerConfig(
        interval=settings.notices_interval,
        recheck_every=dt.timedelta(hours=settings.recheck_hours),
        escalate_after=settings.escalate_after,
    )
    return standard_worker(sessions, smtp=smtp, config=config)


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
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
