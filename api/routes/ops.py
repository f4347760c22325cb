"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from empreinte.api.deps import StateDep
from empreinte.api.problems import problem_response
from empreinte.hashing.signals import SignalType

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(state: StateDep) -> Response | dict[str, object]:
    """The index is loaded and has replayed the change log: matches are complete."""
    follower = state.follower
    if not follower.ready.is_set():
        return problem_response(503, "Not ready", "the index is still loading")
    return {"status": "ready", "seq": follower.live.seq}


@router.get("/metrics", response_model=None)
def metrics(request: Request, state: StateDep) -> Response:
    """Prometheus metrics: requests, latencies, index size, matches.

    Served to the configured ``metrics_token`` (``Authorization: Bearer``), or
    without one to the machine itself (a loopback peer) only.
    """
    if not _may_read_metrics(request, state.settings.metrics_token):
        return problem_response(403, "Forbidden", "metrics are for the operator's monitoring")
    for signal in SignalType:
        state.metrics.index_size.labels(signal.value).set(state.follower.live.size(signal))
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _may_read_metrics(request: Request, token: str | None) -> bool:
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    peer = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
