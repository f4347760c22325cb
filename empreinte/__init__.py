"""Empreinte: fingerprint intimate images locally, find their re-posts, get them taken down.

The public surface is what ``__all__`` lists; everything else is internal. The
names are loaded on first use, so ``import empreinte`` stays cheap (the CLI's
``--help`` does not compile the PDQ kernels).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Fingerprint": "empreinte.hashing.fingerprint",
    "fingerprint_bytes": "empreinte.hashing.fingerprint",
    "HashValue": "empreinte.hashing.signals",
    "SignalType": "empreinte.hashing.signals",
    "Limits": "empreinte.hashing.decode",
    "decode": "empreinte.hashing.decode",
    "EmpreinteError": "empreinte.errors",
    "ImageError": "empreinte.errors",
    "SignalError": "empreinte.errors",
    "FingerprintFileError": "empreinte.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'empreinte' has no attribute {name!r}")
    return getattr(import_module(module), name)
