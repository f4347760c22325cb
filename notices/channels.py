"""Send notices: a webhook signed with HMAC-SHA256, or an email over SMTP.

The seam is one method, :meth:`Channel.send`, which returns once the recipient
has accepted the message and otherwise raises :class:`DeliveryUnavailable`
(retry later) or :class:`DeliveryRejected` (do not). Each message carries the
delivery's idempotency key, as the ``Idempotency-Key`` header of a webhook and
as the ``Message-ID`` of an email, so a recipient that sees it twice (after a
crash between sending and recording) can drop the copy.

Webhook signature, as Stripe and GitHub do it: ``Empreinte-Timestamp`` is the
Unix time of sending and ``Empreinte-Signature`` is ``sha256=`` followed by the
hex HMAC-SHA256, keyed with the contact's secret, of ``"<timestamp>.<body>"``.
Recipients check it with :func:`verify` and refuse timestamps older than a few
minutes, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from empreinte.errors import BlockedAddress, InvalidAddress
from empreinte.net.urls import http_url
from empreinte.notices.errors import DeliveryRejected, DeliveryUnavailable

_RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Envelope:
    """One delivery, ready to go: the notice, its renderings, and where it goes."""

    idempotency_key: str
    reference: str
    channel: str
    target: str
    secret: str | None
    language: str
    round: int
    payload: dict[str, Any]
    subject: str
    text: str
    html: str


class Channel(Protocol):
    def send(self, delivery: Envelope) -> None:
        """Deliver ``delivery``; raise :class:`DeliveryError` if the recipient did not accept it."""


def body_of(delivery: Envelope) -> bytes:
    """Return the exact bytes that a webhook posts, and that its signature covers."""
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``Empreinte-Signature`` header for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    """Check a webhook's signature and freshness, in constant time."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


class WebhookChannel:
    """POST the notice as JSON to the contact's webhook; any 2xx answer is an acceptance.

    ``client`` must be a guarded client (:func:`empreinte.net.client.sync_client`): a
    webhook whose host is, or resolves to, a non-public address is refused before any
    connection, with one reason whatever the address, so that delivery errors reveal
    nothing of a private network.
    """

    def __init__(self, client: httpx.Client, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    def send(self, delivery: Envelope) -> None:
        if delivery.secret is None:
            raise DeliveryRejected("this webhook has no signing secret")
        try:
            target = http_url(delivery.target, credentials=False)
        except InvalidAddress as exc:
            raise DeliveryRejected(f"unusable webhook URL: {exc}") from exc
        body = body_of(delivery)
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.idempotency_key,
            "Empreinte-Timestamp": str(timestamp),
            "Empreinte-Signature": sign(delivery.secret, timestamp, body),
            "Empreinte-Notice": delivery.reference,
        }
        try:
            answer = self.client.post(target, content=body, headers=headers)
        except BlockedAddress as exc:
            raise DeliveryRejected("the webhook's host is not a public address") from exc
        except httpx.TimeoutException as exc:
            raise DeliveryUnavailable(f"webhook timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryUnavailable(f"webhook unreachable: {exc}"[:500]) from exc
        if answer.is_success:
            return
        reason = f"webhook answered {answer.status_code}"
        if answer.status_code >= 500 or answer.status_code in _RETRY_STATUSES:
            raise DeliveryUnavailable(reason)
        raise DeliveryRejected(reason)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to hand mail over: STARTTLS and login are used when set."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


class EmailChannel:
    """Send the notice by SMTP: text and HTML in the contact's language, the JSON attached."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def send(self, delivery: Envelope) -> None:
        message = self.message(delivery)
        try:
            with smtplib.SMTP(
                self.server.host, self.server.port, timeout=self.server.timeout
            ) as smtp:
                if self.server.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.server.username and self.server.password:
                    smtp.login(self.server.username, self.server.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _by_code(min(codes), f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryUnavailable(f"SMTP server unreachable: {exc}"[:500]) from exc

    def message(self, delivery: Envelope) -> EmailMessage:
        """Build the email for ``delivery``; its Message-ID is the idempotency key."""
        message = EmailMessage()
        domain = self.server.sender.rpartition("@")[2] or "empreinte.invalid"
        message["Message-ID"] = f"<{delivery.idempotency_key}@{domain}>"
        message["From"] = self.server.sender
        message["To"] = delivery.target
        message["Subject"] = delivery.subject
        message["Empreinte-Notice"] = delivery.reference
        message.set_content(delivery.text)
        message.add_alternative(delivery.html, subtype="html")
        message.add_attachment(
            body_of(delivery),
            maintype="application",
            subtype="json",
            filename=f"{delivery.reference}.json",
        )
        return message


def _by_code(code: int, reason: str) -> DeliveryRejected | DeliveryUnavailable:
    if 500 <= code < 600:
        return DeliveryRejected(reason[:500])
    return DeliveryUnavailable(reason[:500])
