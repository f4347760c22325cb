"""Statistics: notices by host and outcome, time to removal, matches a week; the DSA report."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from empreinte.console import auth, charts
from empreinte.console.i18n import translate
from empreinte.console.pages import HEADERS, render
from empreinte.notices import report
from empreinte.notices.statistics import statistics
from empreinte.store import models as m

router = APIRouter()


@router.get("/stats")
def stats_page(request: Request, who: auth.PersonDep) -> Response:
    now = m.utcnow()
    with who.state.sessions() as session:
        found = statistics(session, who.organisation_id, now)
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
