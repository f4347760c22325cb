"""Tables of the notices room (sightings, notices, deliveries); they share the registry's metadata."""

from __future__ import annotations

from empreinte.store.models import Base

__all__ = ["Base"]
