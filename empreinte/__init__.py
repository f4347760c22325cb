"""Empreinte: fingerprint intimate images locally, find their re-posts, get them taken down.

The public surface is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
