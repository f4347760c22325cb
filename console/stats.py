"""Statistics: notices by host and outcome, time to removal, matches a week; the DSA report."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from empreinte.console import auth, charts
from empreinte.console.i18n import translate
from empreinte.console.pages import HEADERS, render
from empreinte.notices import report
from empreinte.notices.statistics import Statistics, statistics
from empreinte.store import models as m

router = APIRouter()


CACHE_SECONDS: Final = 60.0
"""The charts are aggregates: recounting 50,000 notices more than once a minute buys nothing."""


def _counted(request: Request, who: auth.Person, now: dt.datetime) -> Statistics:
    """Return the organisation's counts, recounted at most once every :data:`CACHE_SECONDS`."""
    cache: dict[int, tuple[float, Statistics]] = request.app.state.statistics
    held = cache.get(who.organisation_id)
    if held is not None and held[0] > time.monotonic():
        return held[1]
    with who.state.sessions() as session:
        found = statistics(session, who.organisation_id, now)
    cache[who.organisation_id] = (time.monotonic() + CACHE_SECONDS, found)
    return found


@router.get("/stats")
def stats_page(request: Request, who: auth.PersonDep) -> Response:
    now = m.utcnow()
    found = _counted(request, who, now)
    hosts = charts.bars(found.by_host)
    outcomes = charts.bars(
        [(translate(who.language, f"status.{s}"), n) for s, n in found.by_outcome]
    )
    removal = charts.bars(found.removal)
    weeks = charts.stacked([d.strftime("%d/%m") for d in found.weeks], found.per_week)
    return render(
        request,
        "stats.html",
        who.language,
        me=who,
        hosts=hosts,
        outcomes=outcomes,
        removal=removal,
        weeks=weeks,
        year=now.year,
        width=charts.WIDTH,
    )


@router.get("/stats/report")
def yearly_report(
    who: auth.PersonDep,
    year: Annotated[int, Query(ge=2000, le=2100)],
    format: Literal["markdown", "json"] = "markdown",
) -> Response:
    """Download the DSA art. 22 yearly report of this organisation's notices."""
    with who.state.sessions() as session:
        found = report.yearly(session, year, organisation_id=who.organisation_id)
    if format == "json":
        body, kind, ext = json.dumps(found, indent=1, default=str), "application/json", "json"
    else:
        body, kind, ext = report.render_markdown(found), "text/markdown; charset=utf-8", "md"
    headers = dict(HEADERS) | {
        "Content-Disposition": f'attachment; filename="empreinte-dsa-report-{year}.{ext}"'
    }
    return Response(body, media_type=kind, headers=headers)
