"""What the app holds while it runs: settings, database, index follower, limits, metrics."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from empreinte.api.limits import TokenBucket
from empreinte.detection.budget import DecodeBudget
from empreinte.settings import Settings
from empreinte.store.audit import AuditQueue
from empreinte.store.follow import Follower
from empreinte.store.keys import Principal


@dataclass
class Metrics:
    """Prometheus metrics of one app, in their own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "empreinte_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "empreinte_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.matches = Counter(
            "empreinte_matches", "Matches reported", ["source", "signal"], registry=self.registry
        )
        self.index_size = Gauge(
            "empreinte_index_size",
            "Hash values in the live index",
            ["signal"],
            registry=self.registry,
        )


class KeyCache:
    """Remember authenticated keys for ``ttl`` seconds, so a lookup costs no query.

    Revoking through this process clears the cache at once; a revocation made by
    another process (the CLI, another worker) takes effect within ``ttl``.
    """

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Services(Protocol):
    """What the app runs on: the process's runtime (:class:`empreinte.runtime.Runtime`)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    follower: Follower
    decoding: DecodeBudget

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    follower: Follower
    rate: TokenBucket
    metrics: Metrics
    audit: AuditQueue
    keys: KeyCache
    decoding: DecodeBudget
