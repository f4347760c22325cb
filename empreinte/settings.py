"""Hold every setting in one place, read from ``EMPREINTE_*`` variables; never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of the service; build one with ``Settings()`` in ``main`` or a test."""

    model_config = SettingsConfigDict(env_prefix="EMPREINTE_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="SQLite file and index snapshots")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in data_dir"
    )
    pdq_threshold: int = Field(default=31, ge=0, le=64)
    follow_interval: float = Field(default=0.2, gt=0, description="change-log poll, seconds")
    snapshot_every: float = Field(default=300.0, gt=0, description="index snapshot, seconds")
    max_request_bytes: int = Field(default=25 * 1024 * 1024, description="any request body")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, description="an uploaded image")
    max_video_bytes: int = Field(default=24 * 1024 * 1024, description="an uploaded video")
    max_video_seconds: float = Field(
        default=600.0, gt=0, description="duration of an uploaded video, seconds"
    )
    video_decode_seconds: float = Field(
        default=120.0, gt=0, description="wall time allowed to decode one uploaded video"
    )
    max_image_pixels: int = Field(
        default=50_000_000, description="an uploaded, crawled or re-checked image"
    )
    decode_memory: int = Field(
        default=1_200_000_000, gt=0, description="bytes that images being decoded may hold"
    )
    decode_concurrency: int = Field(default=2, ge=1, description="images decoded at once")
    decode_wait: float = Field(
        default=20.0, gt=0, description="seconds an image may wait for room before a 503"
    )
    rate_per_key: float = Field(default=2000.0, gt=0, description="requests a second per key")
    rate_burst: float = Field(default=4000.0, gt=0)
    pin_failures_per_case: int = Field(default=5, description="wrong PINs per case per window")
    pin_failures_per_client: int = Field(default=20, description="wrong PINs per client")
    pin_window: float = Field(default=900.0, gt=0, description="PIN throttle window, seconds")
    self_service_org: str | None = Field(
        default=None,
        description="name of the NGO that receives self-service cases from the victim's page "
        "(none: the page only downloads fingerprint files)",
    )
    self_service_hold: bool = Field(
        default=True,
        description="self-service cases match nothing until a case worker accepts them",
    )
    self_service_per_client: int = Field(
        default=5, ge=1, description="self-service cases per client per window"
    )
    self_service_challenges_per_client: int = Field(
        default=60, ge=1, description="proof-of-work challenges per client per window"
    )
    self_service_window: float = Field(
        default=3600.0, gt=0, description="self-service rate-limit window, seconds"
    )
    self_service_work_bits: int = Field(
        default=16, ge=0, le=32, description="leading zero bits of the proof-of-work"
    )
    self_service_challenge_ttl: float = Field(
        default=600.0, gt=0, description="seconds a proof-of-work challenge stays valid"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For is believed",
    )
    metrics_token: str | None = Field(
        default=None, description="bearer token for /metrics (without it, loopback only)"
    )
    erase_after_hours: float = Field(
        default=12.0,
        ge=0,
        description="hours a withdrawn hash value stays (for feed followers) before it is erased",
    )
    purge_every: float = Field(default=3600.0, gt=0, description="erasure pass, seconds")
    max_match_batch: int = Field(default=1000)
    workers: bool = Field(default=True, description="run notice and crawler workers in `serve`")
    allow_loopback: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "allow_loopback", "EMPREINTE_ALLOW_LOOPBACK", "EMPREINTE_CRAWL_ALLOW_LOOPBACK"
        ),
        description="let outbound HTTP (crawler, webhooks, re-checks) reach 127.0.0.0/8 "
        "(tests and demos only)",
    )
    notices_interval: float = Field(default=2.0, gt=0, description="notice worker poll, seconds")
    recheck_hours: float = Field(default=24.0, gt=0, description="re-check sent notices")
    escalate_after: int = Field(default=3, ge=1, description="re-sends before escalation")
    smtp_host: str | None = Field(default=None, description="mail relay for e-mailed notices")
    smtp_port: int = 25
    smtp_sender: str = "notices@empreinte.invalid"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None

    @property
    def url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'empreinte.db').resolve()}"

    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "index"
