"""Make and check the secrets the registry hands out: case PINs and API keys.

PINs are short, so they are stored only as a slow, salted scrypt hash. API keys
are long and random, so a SHA-256 of their secret part is enough; their public
prefix finds the row without scanning.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1


def new_case_number() -> str:
    """Return a case number a person can read out on the phone, e.g. ``EMP-7K3Q-9XW2``."""
    chars = "".join(secrets.choice(_CROCKFORD) for _ in range(8))
    return f"EMP-{chars[:4]}-{chars[4:]}"


def new_pin() -> str:
    """Return a fresh 8-digit PIN."""
    return f"{secrets.randbelow(10**8):08d}"


def hash_pin(pin: str) -> str:
    """Return a salted scrypt hash of ``pin``, with its parameters."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(pin, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        ["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)]
    )


DUMMY_PIN_HASH: Final = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)
"""Checked against when the case does not exist, so both answers take the same time."""


def check_pin(pin: str, stored: str) -> bool:
    """Return whether ``pin`` matches ``stored``, in time independent of where they differ."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _scrypt(pin, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def new_api_key() -> tuple[str, str, str]:
    """Return ``(key, prefix, secret_hash)``: the key is shown once, the rest is stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"emp_{prefix}_{secret}", prefix, hash_api_secret(secret)


def split_api_key(key: str) -> tuple[str, str] | None:
    """Return ``(prefix, secret)`` of a well-formed key, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "emp" or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024**2)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
