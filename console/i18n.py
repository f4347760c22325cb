"""Say the console's words in French or English, from one catalogue per language.

Catalogues are flat JSON files (``i18n/fr.json``, ``i18n/en.json``) with the
same keys; a key missing from the chosen catalogue raises, so a page never
shows a raw key or silently falls back to the other language.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Final, Literal

Language = Literal["en", "fr"]
LANGUAGES: Final[tuple[Language, ...]] = ("fr", "en")
DEFAULT: Final[Language] = "fr"


@functools.cache
def catalogue(language: Language) -> dict[str, str]:
    path = Path(__file__).parent / "i18n" / f"{language}.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def language_of(value: str | None) -> Language:
    """Return ``value`` if it names a catalogue, else the default language."""
    return "en" if value == "en" else "fr" if value == "fr" else DEFAULT


def from_header(accept_language: str) -> Language:
    """Pick French or English from an ``Accept-Language`` header, in its order."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return language_of(tag)
    return DEFAULT


def translate(language: Language, key: str, **values: object) -> str:
    """Return the sentence of ``key``, with ``{name}`` fields filled from ``values``."""
    text = catalogue(language)[key]
    return text.format(**values) if values else text
