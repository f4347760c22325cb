"""Tables of the crawler room (crawls, frontier, seen images); they share the registry's metadata."""

from __future__ import annotations

from empreinte.store.models import Base

__all__ = ["Base"]
