"""Platform routes: match an upload or hashes, send feedback, follow the hash feed.

Answers carry match and fingerprint ids, the signal, the distance and a
confidence: never a case number, an organisation, or anything about the victim.
Uploaded bytes are hashed in memory and dropped; they are never written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from empreinte.api.deps import PlatformDep, SessionDep, StateDep
from empreinte.api.multipart import read_field
from empreinte.api.problems import Problem, load_json
from empreinte.api.schemas import (
    FeedbackCreate,
    FeedChange,
    FeedPage,
    MatchList,
    MatchPublic,
    MatchRequest,
)
from empreinte.api.state import AppState
from empreinte.detection.service import (
    DEFAULT_THRESHOLDS,
    ImageQuery,
    match_image,
    match_queries,
    match_video,
)
from empreinte.detection.service import Query as HashQuery
from empreinte.errors import SignalError
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.query import QueryVideo
from empreinte.hashing.video.sniff import is_video
from empreinte.store import audit, registry
from empreinte.store import models as m
from empreinte.store.keys import Principal

router = APIRouter(prefix="/v1", tags=["platforms"])

_MATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/MatchRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post("/match", response_model=MatchList, openapi_extra=_MATCH_BODY)
async def match(request: Request, principal: PlatformDep, state: StateDep) -> MatchList:
    """Is this a registered image or video? Send it as multipart ``file``, or up to 1,000 hashes.

    A video (MP4, MOV, WebM, MKV, 3GP) is decoded in memory and matched frame by
    frame; its matches carry both shares and the time ranges on both sides.

    JSON form: ``{"signals": [{"type": "pdq", "value": "<64 hex>"}, ...]}``.
    """
    content_type = request.headers.get("content-type", "")
    query: ImageQuery | QueryVideo | list[HashQuery]
    if content_type.startswith("multipart/form-data"):
        query = await run_in_threadpool(_upload_query, await request.body(), content_type, state)
    elif content_type.split(";")[0].strip() == "application/json":
        batch = state.settings.max_match_batch
        query = await run_in_threadpool(_hash_queries, await request.body(), batch)
    else:
        raise Problem(415, "Unsupported media type", "send multipart/form-data or application/json")
    found = await run_in_threadpool(_match, state, principal, query)
    return MatchList(matches=found)


def _upload_query(body: bytes, content_type: str, state: AppState) -> ImageQuery | QueryVideo:
    """Hash the uploaded image or video within the decoding budget (off the event loop)."""
    data = read_field(body, content_type, "file")
    del body
    if is_video(data):
        return _video_query(data, state)
    limit = state.settings.max_image_bytes
    if len(data) > limit:
        raise Problem(413, "Image too large", f"images are limited to {limit:,} bytes")
    return state.decoding.prepare(data)


def _video_query(data: bytes, state: AppState) -> QueryVideo:
    """Hash an uploaded video from memory in a killable process, within the video limits."""
    settings = state.settings
    if len(data) > settings.max_video_bytes:
        raise Problem(
            413, "Video too large", f"videos are limited to {settings.max_video_bytes:,} bytes"
        )
    limits = VideoLimits(
        max_bytes=settings.max_video_bytes,
        max_seconds=settings.max_video_seconds,
        max_wall_seconds=settings.video_decode_seconds,
    )
    return state.decoding.prepare_video(data, limits)


def _hash_queries(body: bytes, max_batch: int) -> list[HashQuery]:
    try:
        request = MatchRequest.model_validate(load_json(body))
    except (ValueError, ValidationError) as exc:
        raise Problem(422, "Invalid request", f"not a valid match request: {exc}"[:500]) from exc
    if len(request.signals) > max_batch:
        raise Problem(413, "Batch too large", f"send at most {max_batch} hashes per request")
    queries = []
    problems = []
    for index, item in enumerate(request.signals):
        try:
            value = HashValue.parse(item.type, item.value)
        except SignalError as exc:
            problems.append({"index": index, "reason": str(exc)})
            continue
        queries.append(HashQuery(value.signal, value.raw, index))
    if problems:
        raise Problem(422, "Invalid hash", "some hashes are malformed", problems=problems[:100])
    return queries


def _match(
    state: AppState, principal: Principal, query: ImageQuery | QueryVideo | list[HashQuery]
) -> list[MatchPublic]:
    thresholds = dict(DEFAULT_THRESHOLDS)
    thresholds[SignalType.PDQ] = (
        principal.pdq_threshold
        if principal.pdq_threshold is not None
        else state.settings.pdq_threshold
    )
    live = state.follower.live
    with state.sessions.begin() as session:
        if isinstance(query, QueryVideo):
            kind, count = "video", 1
            found = match_video(
                session,
                live,
                query,
                source="platform",
                organisation_id=principal.organisation_id,
            )
        elif isinstance(query, ImageQuery):
            kind, count = "image", 1
            found = match_image(
                session,
                live,
                query,
                thresholds=thresholds,
                source="platform",
                organisation_id=principal.organisation_id,
            )
        else:
            kind, count = "hashes", len(query)
            found = match_queries(
                session,
                live,
                query,
                thresholds=thresholds,
                source="platform",
                organisation_id=principal.organisation_id,
            )
    state.audit.put(
        principal.actor,
        "match.query",
        organisation_id=principal.organisation_id,
        kind=kind,
        queries=count,
        matches=[f.match_id for f in found],
    )
    for item in found:
        state.metrics.matches.labels("platform", item.signal).inc()
    return [
        MatchPublic(
            match_id=f.match_id,
            fingerprint_id=f.fingerprint_id,
            signal=f.signal,
            distance=f.distance,
            confidence=f.confidence,
            query=f.query,
            box=list(f.box) if f.box is not None else None,
            inliers=f.inliers,
            query_share=f.query_share,
            registered_share=f.registered_share,
            query_range=_listed(f.query_range),
            registered_range=_listed(f.registered_range),
        )
        for f in found
    ]


def _listed(span: tuple[float, float] | None) -> list[float] | None:
    return list(span) if span is not None else None


@router.post("/matches/{match_id}/feedback", status_code=204)
def feedback(
    match_id: str, body: FeedbackCreate, principal: PlatformDep, session: SessionDep
) -> None:
    """Say what you did with a match your own query produced: ``blocked``, ``not_blocked`` or
    ``pending_review``. Your latest answer per fingerprint counts once in its reliability,
    however many matches you send feedback on."""
    with session.begin():
        event = session.get(m.MatchEvent, match_id)
        if (
            event is None
            or principal.organisation_id is None
            or event.source != "platform"
            or event.organisation_id != principal.organisation_id
        ):
            raise Problem(404, "Not found", "no such match for this platform")
        event.feedback = body.feedback
        event.feedback_at = m.utcnow()
        audit.record(
            session,
            principal.actor,
            "match.feedback",
            organisation_id=principal.organisation_id,
            target=match_id,
            feedback=body.feedback,
        )


@router.get("/feed", response_model=FeedPage)
def feed(
    principal: PlatformDep,
    session: SessionDep,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> FeedPage:
    """Hashes added and removed since a checkpoint, for platforms that match on their side.

    A withdrawal appears as a ``remove``. Start with ``since=0`` and pass back
    the ``checkpoint`` of each page. Local features are matched on this server
    only and are not in the feed.
    """
    changes = registry.changes_since(session, since, limit=limit + 1)
    more = len(changes) > limit
    page = changes[:limit]
    checkpoint = page[-1].seq if page else since
    return FeedPage(
        changes=[
            FeedChange(
                seq=c.seq,
                op="add" if c.op == "add" else "remove",
                signal=c.signal,
                value=c.value.hex(),
            )
            for c in page
            if c.signal != SignalType.ORB
        ],
        checkpoint=checkpoint,
        more=more,
    )
