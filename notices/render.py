"""Render a notice document as text or HTML, in English or French, with Jinja2.

Templates live in ``notices/templates``, one per language and format
(``notice.fr.html``), so a lawyer can review each one as a whole. The HTML form
with a ``history`` is the printable, dated evidence file of a notice.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

Language = Literal["en", "fr"]
Format = Literal["txt", "html"]

LANGUAGES: Final[tuple[Language, ...]] = ("en", "fr")

_SUBJECT: Final = {
    "en": "Takedown notice {reference}: non-consensual intimate image at {host}",
    "fr": "Notification de retrait {reference} : image intime diffusée sans consentement "
    "sur {host}",
}
_REMINDER: Final = {"en": "Reminder {round}: ", "fr": "Relance {round} : "}


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    content: dict[str, Any],
    language: Language,
    fmt: Format,
    *,
    round: int = 0,
    history: dict[str, Any] | None = None,
) -> str:
    """Render ``content`` in ``language`` as ``fmt``; a ``history`` makes it an evidence file."""
    template = _environment().get_template(f"notice.{language}.{fmt}")
    return template.render(n=content, round=round, history=history)


def subject(content: dict[str, Any], language: Language, *, round: int = 0) -> str:
    """Return the email subject of the notice, marked as a reminder after the first round."""
    line = _SUBJECT[language].format(
        reference=content["reference"], host=content["location"]["host"]
    )
    return (_REMINDER[language].format(round=round) if round else "") + line
