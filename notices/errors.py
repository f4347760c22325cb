"""Declare the errors of the notices room; they join Empreinte's one exception tree::

EmpreinteError
├── Conflict (store.registry)
│   └── InvalidTransition      a notice cannot move from its status to the one asked
├── DeliveryError              a channel could not deliver a notice
│   ├── DeliveryUnavailable    worth retrying: unreachable, timeout, 5xx, TLS, SMTP 4xx
│   └── DeliveryRejected       not worth retrying: 4xx, SMTP 5xx (for example 550)
├── FetchError                 a URL could not be fetched to re-check it
└── InvalidAddress             a URL, domain or email address is unusable
"""

from __future__ import annotations

from empreinte.errors import EmpreinteError, InvalidAddress

__all__ = [
    "DeliveryError",
    "DeliveryRejected",
    "DeliveryUnavailable",
    "FetchError",
    "InvalidAddress",
    "InvalidTransition",
]
from empreinte.store.registry import Conflict


class InvalidTransition(Conflict):
    """A notice cannot move from its current status to the one asked."""


class DeliveryError(EmpreinteError):
    """A channel could not deliver a notice; ``reason`` is for the reviewer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryUnavailable(DeliveryError):
    """The recipient could not be reached or failed for now: try again later."""


class DeliveryRejected(DeliveryError):
    """The recipient refused the message: retrying would not help."""


class FetchError(EmpreinteError):
    """A URL could not be fetched (network, timeout, too large)."""
