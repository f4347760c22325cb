"""Write and read fingerprint files, and the local manifest that never leaves the device.

A fingerprint file is versioned JSON checked against
``hashing/schemas/fingerprints.schema.json``::

    {"format": "empreinte-fingerprints", "version": 2, "records": [...]}

Version 3 adds video records (``media_type`` ``video/...``: ``duration``,
``frames`` as ``start,end,quality,pdq_hex`` strings, ``keyframes`` with their
local features). A file is written as version 3 only when it holds a video, so
image-only files stay version 2; versions 1 and 2 still load.

It names no file and no path. The *manifest* is a second file, kept by the
victim or case worker, that maps record ids back to local paths; it is never
meant to be submitted, and the help line has no use for it.

Reading is strict: every bad record is reported with its index and reason, and
the good ones are still returned, so a service can accept part of a file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jsonschema

from empreinte.errors import FingerprintFileError, SignalError
from empreinte.hashing.fingerprint import Fingerprint, Signal
from empreinte.hashing.robust.features import LocalFeatures
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.hashing.video.frames import FrameSignal, Keyframe

FORMAT: Final = "empreinte-fingerprints"
VERSION: Final = 2
"""Written version for images. Version 2 adds the ``orb`` local-features signal."""
VIDEO_VERSION: Final = 3
"""Written version when a file holds a video record."""
READABLE_VERSIONS: Final = (1, 2, 3)
MANIFEST_FORMAT: Final = "empreinte-local-manifest"
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
MAX_RECORDS: Final = 100_000


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Why one record of a file was refused."""

    index: int
    record_id: str | None
    reason: str

    def __str__(self) -> str:
        name = f" ({self.record_id})" if self.record_id else ""
        return f"record {self.index}{name}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The good records of a fingerprint file, and the problems of the others."""

    records: list[Fingerprint]
    problems: list[RecordProblem]


@cache
def schema() -> dict[str, Any]:
    """Return the JSON Schema of fingerprint files."""
    text = resources.files("empreinte.hashing").joinpath("schemas/fingerprints.schema.json")
    loaded: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return loaded


@cache
def _record_validator() -> jsonschema.Draft202012Validator:
    defs = schema()["$defs"]
    return jsonschema.Draft202012Validator({"$defs": defs, "$ref": "#/$defs/record"})


def record_to_json(record: Fingerprint) -> dict[str, Any]:
    """Return the JSON form of one record."""
    signals: list[dict[str, Any]] = [
        {"type": str(s.type), "value": str(s.value), "quality": s.quality} for s in record.signals
    ]
    if record.features is not None:
        signals.append(
            {"type": SignalType.ORB, "value": record.features.to_text(), "quality": None}
        )
    if record.is_video:
        return _video_to_json(record, signals)
    return {
        "id": str(record.id),
        "media_type": record.media_type,
        "width": record.width,
        "height": record.height,
        "pipeline": record.pipeline,
        "signals": signals,
    }


def _video_to_json(record: Fingerprint, signals: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "media_type": record.media_type,
        "width": record.width,
        "height": record.height,
        "pipeline": record.pipeline,
        "duration": record.duration,
        "signals": signals,
        "frames": [f.to_text() for f in record.frames],
        "keyframes": [{"time": k.time, "orb": k.features.to_text()} for k in record.keyframes],
    }


def dumps(records: Iterable[Fingerprint]) -> str:
    """Serialise records as a fingerprint file (version 3 only when it holds a video)."""
    from empreinte import __version__

    rows = list(records)
    document = {
        "format": FORMAT,
        "version": VIDEO_VERSION if any(r.is_video for r in rows) else VERSION,
        "generator": f"empreinte {__version__}",
        "records": [record_to_json(r) for r in rows],
    }
    return json.dumps(document, indent=1) + "\n"


def loads(data: bytes | str) -> ParsedFile:
    """Parse and validate a fingerprint file.

    Raises :class:`FingerprintFileError` when the file as a whole is unusable
    (not JSON, wrong format or version, too big). Bad records do not raise:
    they come back in :attr:`ParsedFile.problems`.
    """
    if len(data) > MAX_FILE_BYTES:
        raise FingerprintFileError([f"file is over {MAX_FILE_BYTES:,} bytes"])
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FingerprintFileError([f"not valid JSON ({exc})"]) from exc
    except RecursionError as exc:
        raise FingerprintFileError(["JSON nested too deeply"]) from exc
    _check_envelope(document)
    if len(document["records"]) > MAX_RECORDS:
        raise FingerprintFileError([f"more than {MAX_RECORDS:,} records in one file"])
    validator = _record_validator()
    records: list[Fingerprint] = []
    problems: list[RecordProblem] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["records"]):
        record_id = raw.get("id") if isinstance(raw, dict) else None
        shown_id = record_id if isinstance(record_id, str) and len(record_id) <= 36 else None
        errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
        if errors:
            reason = "; ".join(_describe(e) for e in errors[:5])
            problems.append(RecordProblem(index, shown_id, reason))
            continue
        if document["version"] < VIDEO_VERSION and str(raw["media_type"]).startswith("video/"):
            problems.append(RecordProblem(index, shown_id, "video records need version 3"))
            continue
        if str(record_id) in seen:
            problems.append(RecordProblem(index, shown_id, "duplicate record id in this file"))
            continue
        try:
            records.append(_record_from_json(raw))
        except SignalError as exc:
            problems.append(RecordProblem(index, shown_id, str(exc)))
            continue
        seen.add(str(record_id))
    return ParsedFile(records, problems)


def read(path: Path, *, strict: bool = True) -> ParsedFile:
    """Read a fingerprint file; with ``strict``, raise if any record is bad."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FingerprintFileError([f"cannot read {path}: {exc.strerror}"]) from exc
    parsed = loads(data)
    if strict and parsed.problems:
        raise FingerprintFileError([str(p) for p in parsed.problems])
    return parsed


def write(path: Path, records: Iterable[Fingerprint]) -> None:
    """Write a fingerprint file atomically (a temporary file, then a rename)."""
    _write_atomic(path, dumps(records))


def write_manifest(path: Path, entries: Mapping[uuid.UUID, str]) -> None:
    """Write the local manifest mapping record ids to the paths they came from."""
    document = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "warning": "LOCAL ONLY. Do not send this file to anyone: it names your files.",
        "entries": [{"id": str(k), "path": v} for k, v in entries.items()],
    }
    _write_atomic(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _check_envelope(document: Any) -> None:
    if not isinstance(document, dict):
        raise FingerprintFileError(["top level must be a JSON object"])
    if document.get("format") != FORMAT:
        raise FingerprintFileError([f"'format' must be {FORMAT!r}: this is not a fingerprint file"])
    version = document.get("version")
    if version not in READABLE_VERSIONS:
        known = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise FingerprintFileError([f"unsupported version {version!r}; this reader knows {known}"])
    envelope = dict(document, records=[])
    problems = [
        _describe(e) for e in jsonschema.Draft202012Validator(schema()).iter_errors(envelope)
    ]
    if not isinstance(document.get("records"), list):
        problems.append("'records' must be a list")
    if problems:
        raise FingerprintFileError(problems)


def _record_from_json(raw: dict[str, Any]) -> Fingerprint:
    signals = []
    kinds: set[SignalType] = set()
    features = None
    for item in raw["signals"]:
        if item["type"] == SignalType.ORB:
            if features is not None:
                raise SignalError(f"signal {SignalType.ORB} appears twice")
            features = LocalFeatures.from_text(item["value"])
            continue
        value = HashValue.parse(item["type"], item["value"])
        if value.signal in kinds:
            raise SignalError(f"signal {value.signal} appears twice")
        kinds.add(value.signal)
        signals.append(Signal(value, item.get("quality")))
    record = Fingerprint(
        id=uuid.UUID(raw["id"]),
        media_type=raw["media_type"],
        width=raw["width"],
        height=raw["height"],
        pipeline=raw["pipeline"],
        signals=tuple(signals),
        features=features,
        duration=raw.get("duration"),
        frames=tuple(FrameSignal.from_text(f) for f in raw.get("frames", ())),
        keyframes=tuple(
            Keyframe(k["time"], LocalFeatures.from_text(k["orb"])) for k in raw.get("keyframes", ())
        ),
    )
    if record.is_video:
        from empreinte.hashing.video.fingerprint import check_size_cap

        check_size_cap(record)
    return record


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    return f"{where}: {message}" if where else message
