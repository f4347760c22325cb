"""Run the notices' background work: cancel withdrawn, deliver the outbox, re-check URLs.

:func:`run_once` does one pass with an explicit ``now``, so tests can script a
timeline. :class:`Worker` runs passes in a thread every ``config.interval``
seconds (2 s by default, so a notice goes out a few seconds after approval);
start it from ``empreinte serve`` or ``empreinte worker`` and stop it on exit.
Several workers, in one process or many, share the work safely (see
:mod:`outbox`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final

import httpx
from sqlalchemy.orm import Session, sessionmaker

from empreinte.detection.budget import DecodeBudget
from empreinte.hashing.decode import Limits
from empreinte.net.client import sync_client, user_agent
from empreinte.notices import consent, outbox, recheck
from empreinte.notices.channels import (
    Channel,
    EmailChannel,
    Envelope,
    SmtpServer,
    WebhookChannel,
)
from empreinte.notices.errors import DeliveryError, DeliveryRejected
from empreinte.notices.fetch import MAX_BYTES, Fetcher, HttpFetcher, Prepare
from empreinte.notices.render import Language, render, subject
from empreinte.store.models import utcnow

log = logging.getLogger(__name__)

DEFAULT_RECHECK_PIXELS: Final = 50_000_000
"""Re-checked images obey the same pixel limit as uploads (a hostile host can serve bombs)."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How often the worker runs, and how it retries, re-checks and escalates."""

    interval: float = 2.0
    recheck_every: dt.timedelta = dt.timedelta(hours=24)
    lease: dt.timedelta = dt.timedelta(seconds=90)
    backoff: dt.timedelta = dt.timedelta(seconds=30)
    max_attempts: int = 8
    escalate_after: int = 3
    batch: int = 50


@dataclass(slots=True)
class Pass:
    """What one pass did, for logs and tests."""

    cancelled: int = 0
    sent: int = 0
    failed: int = 0
    checked: int = 0
    errors: list[str] = field(default_factory=list)


def run_once(
    sessions: sessionmaker[Session],
    channels: Mapping[str, Channel],
    fetcher: Fetcher,
    now: dt.datetime | None = None,
    config: WorkerConfig = WorkerConfig(),
    prepare: Prepare | None = None,
) -> Pass:
    """Cancel notices of withdrawn cases, run due re-checks, then send every due delivery.

    ``prepare`` hashes re-checked images (default: a decoding budget of its own).
    """
    now = now or utcnow()
    done = Pass()
    with sessions.begin() as session:
        done.cancelled = consent.sweep(session, now)
    done.checked = _recheck(sessions, fetcher, now, config, prepare or _default_budget().prepare)
    while True:
        with sessions.begin() as session:
            batch = outbox.claim(session, now, lease=config.lease, limit=config.batch)
        if not batch:
            return done
        for item in batch:
            _deliver(sessions, channels, item, now, config, done)


def _deliver(
    sessions: sessionmaker[Session],
    channels: Mapping[str, Channel],
    item: outbox.Claimed,
    now: dt.datetime,
    config: WorkerConfig,
    done: Pass,
) -> None:
    channel = channels.get(item.channel)
    try:
        if channel is None:
            raise DeliveryRejected(f"no {item.channel} channel is configured")
        channel.send(envelope(item))
    except DeliveryError as exc:
        with sessions.begin() as session:
            outbox.record_failure(
                session,
                item.delivery_id,
                exc,
                now,
                max_attempts=config.max_attempts,
                backoff=config.backoff,
            )
        done.failed += 1
        done.errors.append(f"{item.idempotency_key}: {exc.reason}")
        return
    with sessions.begin() as session:
        outbox.record_sent(session, item.delivery_id, now, recheck_after=config.recheck_every)
    done.sent += 1


def envelope(item: outbox.Claimed) -> Envelope:
    """Render a claimed delivery in its contact's language."""
    language: Language = "fr" if item.language == "fr" else "en"
    payload = {
        "notice": item.content,
        "delivery": {"idempotency_key": item.idempotency_key, "round": item.round},
    }
    return Envelope(
        idempotency_key=item.idempotency_key,
        reference=str(item.content["reference"]),
        channel=item.channel,
        target=item.target,
        secret=item.secret,
        language=language,
        round=item.round,
        payload=payload,
        subject=subject(item.content, language, round=item.round),
        text=render(item.content, language, "txt", round=item.round),
        html=render(item.content, language, "html", round=item.round),
    )


@cache
def _default_budget() -> DecodeBudget:
    return DecodeBudget(Limits(max_bytes=MAX_BYTES, max_pixels=DEFAULT_RECHECK_PIXELS))


def _recheck(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    now: dt.datetime,
    config: WorkerConfig,
    prepare: Prepare,
) -> int:
    with sessions.begin() as session:
        due = recheck.claim(session, now, lease=config.lease, limit=config.batch)
    for item in due:
        outcome, body = recheck.look(fetcher, item.url)
        with sessions.begin() as session:
            outcome = recheck.judge(session, item, outcome, body, prepare)
            recheck.apply(
                session,
                item,
                outcome,
                now,
                every=config.recheck_every,
                escalate_after=config.escalate_after,
            )
    return len(due)


class Worker:
    """Run :func:`run_once` in a background thread until :meth:`stop`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Mapping[str, Channel],
        fetcher: Fetcher,
        config: WorkerConfig = WorkerConfig(),
        *,
        closing: Sequence[httpx.Client] = (),
        prepare: Prepare | None = None,
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        self.fetcher = fetcher
        self.config = config
        self.prepare = prepare
        self._closing = list(closing)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start passes in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="notices-worker", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Run passes until stopped; a failed pass is logged and the next one tries again."""
        while not self._stop.is_set():
            try:
                done = run_once(
                    self.sessions,
                    self.channels,
                    self.fetcher,
                    config=self.config,
                    prepare=self.prepare,
                )
                if done.sent or done.failed or done.cancelled:
                    log.info(
                        "notices: %d sent, %d failed, %d cancelled, %d checked",
                        done.sent,
                        done.failed,
                        done.cancelled,
                        done.checked,
                    )
            except Exception:
                log.exception("notices worker pass failed; retrying")
            self._stop.wait(self.config.interval)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current pass, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for client in self._closing:
            client.close()


def standard_worker(
    sessions: sessionmaker[Session],
    *,
    smtp: SmtpServer | None = None,
    config: WorkerConfig = WorkerConfig(),
    timeout: float = 15.0,
    allow_loopback: bool = False,
    decoding: DecodeBudget | None = None,
) -> Worker:
    """Return a worker with guarded webhook and fetch clients, and SMTP mail if given.

    Both clients come from :func:`empreinte.net.client.sync_client`: webhooks and
    re-checks reach public addresses only (``allow_loopback`` is for tests and demos).
    """
    webhook = sync_client(
        user_agent=user_agent("takedown notices"), allow_loopback=allow_loopback, timeout=timeout
    )
    fetching = sync_client(
        user_agent=user_agent("takedown notices"),
        allow_loopback=allow_loopback,
        timeout=timeout,
        follow_redirects=True,
    )
    channels: dict[str, Channel] = {"webhook": WebhookChannel(webhook)}
    if smtp is not None:
        channels["email"] = EmailChannel(smtp)
    prepare = decoding.prepare if decoding is not None else None
    return Worker(
        sessions,
        channels,
        HttpFetcher(fetching),
        config,
        closing=[webhook, fetching],
        prepare=prepare,
    )
