"""Request and response bodies: ``XCreate`` comes in, ``XPublic`` goes out."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CasePublic(BaseModel):
    case_id: str
    case_number: str
    status: str
    fingerprints: int
    matches: int
    created_at: dt.datetime
    updated_at: dt.datetime
    withdrawn_at: dt.datetime | None


class CaseCreated(CasePublic):
    pin: str = Field(description="Shown once: give it to the victim with the case number")


class CasePage(BaseModel):
    items: list[CasePublic]
    total: int
    limit: int
    offset: int


class RefusedRecord(BaseModel):
    index: int
    record_id: str | None
    reason: str


class AttachPublic(BaseModel):
    accepted: int
    already_present: int
    refused: list[RefusedRecord]


class VictimCredentials(Strict):
    case_number: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=1, max_length=32)


class VictimStatus(BaseModel):
    case_number: str
    status: str
    fingerprints: int
    matches: int
    created_at: dt.datetime
    withdrawn_at: dt.datetime | None


class SignalQuery(Strict):
    type: str = Field(max_length=32)
    value: str = Field(max_length=256)


class MatchRequest(Strict):
    signals: list[SignalQuery] = Field(min_length=1, max_length=1000)


class MatchPublic(BaseModel):
    match_id: str
    fingerprint_id: str
    signal: str
    distance: int
    confidence: float
    query: int = Field(description="Position of the matching value in the request (0 for uploads)")
    box: list[int] | None = Field(
        default=None,
        description="Where the registered image sits in the upload: x, y, width, height (pixels)",
    )
    inliers: int | None = Field(
        default=None, description="Geometrically verified local-feature matches (signal orb)"
    )


class MatchList(BaseModel):
    matches: list[MatchPublic]


class MatchEventPublic(BaseModel):
    match_id: str
    source: str
    fingerprint_id: str
    signal: str
    distance: int
    confidence: float
    feedback: str | None
    created_at: dt.datetime


class FeedbackCreate(Strict):
    feedback: Literal["blocked", "not_blocked", "pending_review"]


class FeedChange(BaseModel):
    seq: int
    op: Literal["add", "remove"]
    signal: str
    value: str


class FeedPage(BaseModel):
    changes: list[FeedChange]
    checkpoint: int = Field(description="Pass as ?since= to get what comes next")
    more: bool


class KeyCreate(Strict):
    role: Literal["admin", "ngo", "platform"]
    organisation: str | None = Field(default=None, max_length=200)
    label: str | None = Field(default=None, max_length=200)


class KeyPublic(BaseModel):
    prefix: str
    role: str
    organisation: str | None
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="Shown once")
