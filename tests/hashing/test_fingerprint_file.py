"""The fingerprint file: versioned, schema-checked, strict, and free of file names."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from empreinte.errors import FingerprintFileError
from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import Fingerprint, fingerprint_bytes
from tests.conftest import encode, photo


@pytest.fixture(scope="module")
def records() -> list[Fingerprint]:
    return [fingerprint_bytes(encode(photo(seed), "JPEG")) for seed in range(3)]


def test_round_trip(records: list[Fingerprint]) -> None:
    parsed = fingerprint_file.loads(fingerprint_file.dumps(records))
    assert parsed.problems == []
    as_json = fingerprint_file.record_to_json
    assert [as_json(r) for r in parsed.records] == [as_json(r) for r in records]
    assert all(r.features is not None and len(r.features) > 50 for r in parsed.records)


def test_version_1_files_still_load(records: list[Fingerprint]) -> None:
    document = json.loads(fingerprint_file.dumps(records))
    document["version"] = 1
    for record in document["records"]:
        record["signals"] = [s for s in record["signals"] if s["type"] != "orb"]
    parsed = fingerprint_file.loads(json.dumps(document))
    assert parsed.problems == []
    assert [str(r.id) for r in parsed.records] == [str(r.id) for r in records]
    assert all(r.features is None for r in parsed.records)


def test_a_fingerprint_stays_under_16_kb(records: list[Fingerprint]) -> None:
    for record in records:
        size = len(json.dumps(fingerprint_file.record_to_json(record)))
        assert size <= 16 * 1024, size


def test_output_matches_the_schema_file(records: list[Fingerprint]) -> None:
    document = json.loads(fingerprint_file.dumps(records))
    jsonschema.Draft202012Validator.check_schema(fingerprint_file.schema())
    jsonschema.validate(document, fingerprint_file.schema())
    assert document["format"] == "empreinte-fingerprints"
    assert document["version"] == 2
    record = document["records"][0]
    assert set(record) == {"id", "media_type", "width", "height", "pipeline", "signals"}
    assert {s["type"] for s in record["signals"]} == {
        "pdq",
        "phash",
        "dhash",
        "whash",
        "sha256",
        "md5",
        "orb",
    }
    assert uuid.UUID(record["id"]).version == 4


def test_written_file_names_no_file(tmp_path: Path) -> None:
    secret = tmp_path / "Léa-nue-2026-secret"
    secret.mkdir()
    image = secret / "IMG_4242-private.jpg"
    image.write_bytes(encode(photo(9), "JPEG"))
    record = fingerprint_bytes(image.read_bytes())
    out = tmp_path / "fp.json"
    fingerprint_file.write(out, [record])
    manifest = tmp_path / "fp.local-manifest.json"
    fingerprint_file.write_manifest(manifest, {record.id: str(image)})
    text = out.read_text(encoding="utf-8")
    for fragment in ("Léa", "secret", "IMG_4242", "private", str(tmp_path), ".jpg"):
        assert fragment not in text
    assert str(image) in manifest.read_text(encoding="utf-8")


def test_every_bad_record_is_reported(records: list[Fingerprint]) -> None:
    document = json.loads(fingerprint_file.dumps(records))
    good = document["records"][0]
    bad_hex = json.loads(json.dumps(good))
    bad_hex["id"] = str(uuid.uuid4())
    bad_hex["signals"][0]["value"] = "xyz"
    with_path = dict(good, id=str(uuid.uuid4()), filename="IMG_1.jpg")
    unknown = json.loads(json.dumps(good))
    unknown["id"] = str(uuid.uuid4())
    unknown["signals"].append({"type": "colourhash", "value": "00"})
    duplicate = dict(good)
    document["records"] = [good, bad_hex, with_path, unknown, duplicate, "nonsense"]
    parsed = fingerprint_file.loads(json.dumps(document))
    assert len(parsed.records) == 1
    reasons = {p.index: p.reason for p in parsed.problems}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "hex" in reasons[1]
    assert "filename" in reasons[2]
    assert "unknown signal type" in reasons[3]
    assert "duplicate" in reasons[4]
    with pytest.raises(FingerprintFileError) as info:
        path = Path("/nonexistent/fp.json")
        fingerprint_file.read(path)
    assert info.value.problems


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"format": "other", "version": 1, "records": []}', "not a fingerprint file"),
        ('{"format": "empreinte-fingerprints", "version": 99, "records": []}', "version 99"),
        ('{"format": "empreinte-fingerprints", "version": 1, "records": {}}', "records"),
        ('{"format": "empreinte-fingerprints", "version": 1, "records": [], "x": 1}', "x"),
    ],
)
def test_unusable_files_raise(text: str, words: str) -> None:
    with pytest.raises(FingerprintFileError, match=words):
        fingerprint_file.loads(text)


def test_strict_read_raises_on_any_bad_record(tmp_path: Path, records: list[Fingerprint]) -> None:
    document = json.loads(fingerprint_file.dumps(records))
    document["records"][1]["width"] = -5
    path = tmp_path / "fp.json"
    path.write_text(json.dumps(document))
    with pytest.raises(FingerprintFileError) as info:
        fingerprint_file.read(path)
    assert any("record 1" in p for p in info.value.problems)
    lenient = fingerprint_file.read(path, strict=False)
    assert len(lenient.records) == 2
