"""Request and response bodies: ``XCreate`` comes in, ``XPublic`` goes out."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

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


class ReassignedRecord(BaseModel):
    index: int
    record_id: str = Field(description="The id in the file, already registered elsewhere")
    fingerprint_id: str = Field(description="The id the server gave this record instead")


class AttachPublic(BaseModel):
    accepted: int
    already_present: int
    refused: list[RefusedRecord]
    reassigned: list[ReassignedRecord] = Field(default_factory=list)


class WithdrawCreate(Strict):
    on_behalf_of_victim: bool = Field(
        default=False, description="A case worker withdraws for the victim, who asked them to"
    )
    identity_check: str | None = Field(
        default=None, max_length=500, description="How the caller's identity was confirmed"
    )


class VictimCredentials(Strict):
    case_number: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=1, max_length=32)


class ChallengePublic(BaseModel):
    challenge: str
    bits: int = Field(description="leading zero bits SHA-256(challenge + nonce) must have")
    expires_at: dt.datetime


class SelfServiceCreate(Strict):
    consent: bool = Field(description="the victim is in the images, or acts with their consent")
    age_confirmed: bool = Field(description="the victim confirmed the age the page asks for")
    challenge: str = Field(min_length=1, max_length=64)
    nonce: str = Field(min_length=1, max_length=64)
    file: dict[str, Any] = Field(description="the fingerprint file the page made")


class SelfServiceCreated(BaseModel):
    case_number: str
    pin: str = Field(description="Shown once: the victim keeps it with the case number")
    status: str
    accepted: int
    refused: list[RefusedRecord]


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
    distance: int | None = Field(description="Bits apart, for a hash signal; null for orb")
    confidence: float
    query: int = Field(description="Position of the matching value in the request (0 for uploads)")
    box: list[int] | None = Field(
        default=None,
        description="Where the registered image sits in the upload: x, y, width, height (pixels)",
    )
    inliers: int | None = Field(
        default=None, description="Geometrically verified local-feature matches (signal orb)"
    )
    query_share: float | None = Field(
        default=None, description="A video match: share of the upload's duration that matched"
    )
    registered_share: float | None = Field(
        default=None, description="A video match: share of the registered video found"
    )
    query_range: list[float] | None = Field(
        default=None, description="A video match: start and end (seconds) in the upload"
    )
    registered_range: list[float] | None = Field(
        default=None,
        description="A registered video's start and end (seconds) that matched (video or still)",
    )


class MatchList(BaseModel):
    matches: list[MatchPublic]


class MatchEventPublic(BaseModel):
    match_id: str
    source: str
    fingerprint_id: str
    signal: str
    distance: int | None
    inliers: int | None
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


class NoticePublic(BaseModel):
    notice_id: str
    reference: str
    status: str
    round: int
    url: str
    page_url: str | None
    host: str
    signal: str
    distance: int | None
    inliers: int | None
    confidence: float
    box: list[int] | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    removed_at: dt.datetime | None
    escalated_at: dt.datetime | None


class NoticePage(BaseModel):
    items: list[NoticePublic]
    total: int
    limit: int
    offset: int


class ReliabilityPublic(BaseModel):
    blocked: int
    not_blocked: int
    pending_review: int
    score: float = Field(description="(blocked + 1) / (blocked + not_blocked + 2), per platform")


class NoticeDetail(NoticePublic):
    content: dict[str, Any]
    reliability: ReliabilityPublic
    quarantine: str | None = Field(description="Why the fingerprint is quarantined, if it is")
    evidence: dict[str, Any]


class RejectCreate(Strict):
    reason: str = Field(min_length=1, max_length=500)


class AcknowledgeCreate(Strict):
    status: Literal["acknowledged", "removed", "refused"]
    reason: str | None = Field(default=None, max_length=500)


class AcknowledgePublic(BaseModel):
    reference: str
    status: str


class ContactCreate(Strict):
    domain: str = Field(min_length=1, max_length=255, description="Covers its subdomains too")
    role: Literal["platform", "host", "escalation"]
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=128)
    email: str | None = Field(default=None, max_length=320)
    language: Literal["en", "fr"] = "en"
    platform: str | None = Field(
        default=None,
        max_length=200,
        description="An existing platform organisation allowed to answer the notices "
        "this contact receives",
    )


class ContactPublic(BaseModel):
    contact_id: int
    domain: str
    role: str
    webhook_url: str | None
    email: str | None
    language: str
    platform: str | None
    verified: bool = Field(description="Verified by an admin: receives every NGO's notices")
    created_at: dt.datetime


class ContactCreated(ContactPublic):
    webhook_secret: str | None = Field(description="Shown once: the key of webhook signatures")


class NegativeCreate(Strict):
    url: str | None = Field(default=None, max_length=2048)
    signal: str | None = Field(default=None, max_length=32)
    value: str | None = Field(default=None, max_length=256, description="Hex hash value")
    reason: str = Field(min_length=1, max_length=500)


class NegativePublic(BaseModel):
    entry_id: int
    url: str | None
    signal: str | None
    value: str | None
    reason: str
    verified: bool = Field(description="Verified by an admin: holds back every NGO's notices")
    created_at: dt.datetime


class NotifierSettings(Strict):
    contact_email: str | None = Field(default=None, max_length=320)
    auto_approve: bool = False
    auto_approve_pdq_max: int = Field(default=10, ge=0, le=10)
    flood_urls: int = Field(default=20, ge=1, le=100_000)
    flood_window_hours: int = Field(default=24, ge=1, le=24 * 90)


class QuarantinePublic(BaseModel):
    fingerprint_id: str
    started_at: dt.datetime
    reason: str
    released_at: dt.datetime | None
