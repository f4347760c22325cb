"""NGO routes: schedule a crawl of URLs reported by victims or witnesses, and follow it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from empreinte.api.deps import NgoDep, SessionDep
from empreinte.crawls import service
from empreinte.store import audit
from empreinte.store.models.crawls import Crawl
from empreinte.store.registry import NotFound

router = APIRouter(prefix="/v1/crawls", tags=["crawls (NGO)"])


class CrawlCreate(BaseModel):
    seeds: list[str] = Field(min_length=1, max_length=100)
    depth: int = Field(default=2, ge=0, le=10)
    max_pages: int = Field(default=1000, ge=1, le=1_000_000)
    scope: Literal["domain"] | list[str] = "domain"


def _owned(session: Session, organisation_id: int | None, crawl_id: int) -> Crawl:
    crawl = session.get(Crawl, crawl_id)
    if crawl is None or crawl.organisation_id != organisation_id:
        raise NotFound("no such crawl")
    return crawl


@router.post("", status_code=201)
def create(body: CrawlCreate, principal: NgoDep, session: SessionDep) -> dict[str, object]:
    """Schedule a crawl; the crawler workers (in ``serve`` or ``empreinte worker``) run it."""
    with session.begin():
        crawl = service.create_crawl(
            session, principal.organisation_id, body.seeds, body.depth, body.max_pages, body.scope
        )
        audit.record(
            session,
            principal.actor,
            "crawl.create",
            organisation_id=principal.organisation_id,
            target=str(crawl.id),
            seeds=len(body.seeds),
        )
        crawl_id = crawl.id
    with session.begin():
        return service.progress(session, crawl_id)


@router.get("/{crawl_id}")
def get(
    crawl_id: Annotated[int, Path(ge=1, le=2**62)], principal: NgoDep, session: SessionDep
) -> dict[str, object]:
    """Report a crawl's progress: pages, images, matches, errors by kind."""
    _owned(session, principal.organisation_id, crawl_id)
    return service.progress(session, crawl_id)
