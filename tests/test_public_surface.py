"""The public surface is small and pinned: a change to it is a decision, not an accident."""

from __future__ import annotations

import empreinte


def test_public_names_are_pinned() -> None:
    assert empreinte.__all__ == [
        "__version__",
        "EmpreinteError",
        "Fingerprint",
        "FingerprintFileError",
        "HashValue",
        "ImageError",
        "Limits",
        "SignalError",
        "SignalType",
        "decode",
        "fingerprint_bytes",
    ]
    for name in empreinte.__all__:
        assert getattr(empreinte, name) is not None
