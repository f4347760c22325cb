"""Open everything one process needs, the same way in every command.

``empreinte serve``, ``worker``, ``crawl`` and ``demo`` each build one
:class:`Runtime` from the same :class:`~empreinte.settings.Settings`, so every
setting means the same thing everywhere: the database (migrated on start), the
index follower with its snapshots, the decoding budget, and, when asked, the
background work: the notice worker (deliveries and re-checks), the crawler and
the eraser of withdrawn values.
"""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import Protocol

import cv2
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler.background import CrawlerThread
from empreinte.detection.budget import DecodeBudget
from empreinte.hashing.decode import Limits
from empreinte.notices.channels import SmtpServer
from empreinte.notices.worker import Worker, WorkerConfig, standard_worker
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.erase import Eraser
from empreinte.store.follow import Follower


class _Background(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class Runtime:
    """The database, the index, the limits and the background work of one process.

    ``background`` starts the notice worker, the crawler and the eraser (when
    ``settings.workers`` allows); ``hashers`` is the crawler's hashing processes
    (0: a thread, as inside ``serve``; None: one per CPU).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        background: bool = True,
        hashers: int | None = 0,
        upgrade: bool = True,
    ) -> None:
        self.settings = settings
        self.upgrade = upgrade
        self.engine = make_engine(settings.url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.decoding = decode_budget(settings)
        self.follower = Follower(
            self.sessions,
            settings.snapshot_dir,
            interval=settings.follow_interval,
            snapshot_every=settings.snapshot_every,
        )
        self._background: list[_Background] = []
        if background and settings.workers:
            self._background = [
                notice_worker(settings, self.sessions, self.decoding),
                CrawlerThread(self.sessions, self.follower, settings, hashers=hashers),
                Eraser(
                    self.sessions,
                    grace=dt.timedelta(hours=settings.erase_after_hours),
                    every=settings.purge_every,
                ),
            ]

    def start(self) -> None:
        """Migrate the database, start following the change log, then the background work."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        cv2.setNumThreads(1)  # requests hash in parallel threads: OpenCV's own threads only cost
        if self.upgrade:
            migrate.upgrade(self.settings.url)
        self.follower.start()
        for running in self._background:
            running.start()

    def stop(self) -> None:
        """Stop the background work, snapshot the index, close the database."""
        for running in reversed(self._background):
            running.stop()
        self.follower.stop()
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def decode_budget(settings: Settings) -> DecodeBudget:
    """Return the one decoding budget of a process, as ``settings`` give it."""
    limits = Limits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    return DecodeBudget(
        limits,
        memory=settings.decode_memory,
        concurrency=settings.decode_concurrency,
        wait=settings.decode_wait,
    )


def notice_worker(
    settings: Settings, sessions: sessionmaker[Session], decoding: DecodeBudget
) -> Worker:
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
    return standard_worker(
        sessions,
        smtp=smtp,
        config=config,
        allow_loopback=settings.allow_loopback,
        decoding=decoding,
    )
