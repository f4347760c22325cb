"""Read one field of a multipart body in memory, so uploaded images never touch the disk.

Starlette's form parser spools parts over 1 MB to a temporary file; an image
must never be written anywhere, so uploads are parsed here, from a body whose
size the :class:`~empreinte.api.limits.BodyLimit` middleware has already bounded.
"""

from __future__ import annotations

from typing import Final

from python_multipart.multipart import MultipartParser, parse_options_header

from empreinte.api.problems import Problem

MAX_PARTS: Final = 16
MAX_BOUNDARY: Final = 200
"""RFC 2046 allows 70 characters; anything much longer is not a real client."""


class _TooManyParts(Exception):
    pass


def read_field(body: bytes, content_type: str, field: str) -> bytes:
    """Return the bytes of the multipart part named ``field``; raise a 422 problem if absent.

    It parses in the calling thread: call it off the event loop (a body of many
    small parts costs seconds of CPU), as the routes do.
    """
    try:
        _, params = parse_options_header(content_type)
    except ValueError as exc:
        raise Problem(422, "Invalid request", "malformed multipart content type") from exc
    boundary = params.get(b"boundary")
    if not boundary:
        raise Problem(422, "Invalid request", "multipart body without a boundary")
    if len(boundary) > MAX_BOUNDARY:
        raise Problem(422, "Invalid request", f"multipart boundary over {MAX_BOUNDARY} characters")
    parts: list[tuple[bytes, bytearray]] = []
    header_field = bytearray()
    header_value = bytearray()
    current: dict[str, bytes] = {}

    def on_part_begin() -> None:
        current.clear()
        if len(parts) >= MAX_PARTS:
            raise _TooManyParts
        parts.append((b"", bytearray()))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        current[bytes(header_field).lower().decode("latin-1")] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, options = parse_options_header(current.get("content-disposition", b""))
        parts[-1] = (options.get(b"name", b""), parts[-1][1])

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except _TooManyParts as exc:
        raise Problem(422, "Invalid request", f"more than {MAX_PARTS} multipart parts") from exc
    except Exception as exc:
        raise Problem(422, "Invalid request", f"malformed multipart body ({exc})") from exc
    for name, data in parts:
        if name == field.encode():
            return bytes(data)
    raise Problem(422, "Invalid request", f"send the file in the multipart field {field!r}")
