"""Build the victim's page (``/protect``) as a set of static files, in French and English.

The same files are served by ``empreinte serve`` and written by
``empreinte page --out DIR`` for a help line's own static server. Every script
and stylesheet carries its sha384 (Subresource Integrity); the pages allow no
inline script and connect only to their own origin, or to the API base URL
they were built for. The photos never leave the device: the fingerprint engine
(``static/engine``) hashes them in a Web Worker.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE: Final = Path(__file__).parent
LANGUAGES: Final = ("en", "fr")
PAGES: Final = ("index.html", "status.html", "withdraw.html")
ASSETS: Final = ("protect.js", "protect.css", "favicon.svg")
ENGINE: Final = ("worker.js", "mozjpeg_dec.wasm", "webp_dec.wasm")
TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".json": "application/json",
}


def sri(data: bytes) -> str:
    """Return the Subresource Integrity string (sha384) of ``data``."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def policy(api_base: str = "") -> str:
    """Return the Content-Security-Policy of the pages: no inline script, no other host."""
    connect = "'self'"
    if api_base:
        parts = urlsplit(api_base)
        connect += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
        f"connect-src {connect}; img-src 'self' blob:; style-src 'self'; "
        "form-action 'self'; base-uri 'none'"
    )


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """Return the messages of ``language``."""
    text = (HERE / "protect" / "i18n" / f"{language}.json").read_text(encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "protect" / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def build_site(api_base: str = "") -> dict[str, bytes]:
    """Return every file of the page, by path relative to its root.

    ``api_base`` is where the pages send their API calls (empty: their own origin).
    """
    files: dict[str, bytes] = {}
    for name in ASSETS:
        files[f"assets/{name}"] = (HERE / "protect" / "static" / name).read_bytes()
    for name in ENGINE:
        files[f"engine/{name}"] = (HERE / "static" / "engine" / name).read_bytes()
    integrity = {path: sri(data) for path, data in files.items()}
    environment = _environment()
    base = api_base.rstrip("/")
    for language in LANGUAGES:
        messages = catalogue(language)
        for page in PAGES:
            template = environment.get_template(page)
            html = template.render(
                t=messages,
                lang=language,
                other="fr" if language == "en" else "en",
                page=page,
                api_base=base,
                csp=policy(base),
                integrity=integrity,
                client_messages=json.dumps(_client_messages(messages), ensure_ascii=False),
            )
            files[f"{language}/{page}"] = html.encode()
    choose = environment.get_template("choose.html")
    files["index.html"] = choose.render(csp=policy(base), integrity=integrity).encode()
    return files


def _client_messages(messages: Mapping[str, str]) -> dict[str, str]:
    """Return the messages the script needs (those under ``js.``)."""
    return {k[3:]: v for k, v in messages.items() if k.startswith("js.")}


def content_type(path: str) -> str:
    """Return the media type of a file of the page."""
    return TYPES.get(Path(path).suffix, "application/octet-stream")


def write_site(folder: Path, api_base: str = "") -> list[Path]:
    """Write the page into ``folder`` (created if needed); return the files written."""
    written = []
    for path, data in sorted(build_site(api_base).items()):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    return written
