"""Report routes: the DSA art. 22 yearly transparency report, with no personal data."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from empreinte.api.deps import NgoOrAdminDep, SessionDep
from empreinte.notices import report
from empreinte.store import models as m

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/stats", response_model=None)
def stats(
    principal: NgoOrAdminDep,
    session: SessionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    format: Literal["json", "markdown"] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """The DSA art. 22 yearly report: notices by host, content type and action, no personal data.

    An NGO sees its own notices; the operator's admin key sees the whole instance.
    """
    scope = principal.organisation_id if principal.role is m.Role.NGO else None
    found = report.yearly(session, year or m.utcnow().year, organisation_id=scope)
    if format == "markdown":
        return PlainTextResponse(report.render_markdown(found), media_type="text/markdown")
    return found
