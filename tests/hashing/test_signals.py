"""Hash values: hex round trips, distances, and refusal of malformed or degenerate values."""

from __future__ import annotations

import pytest

from empreinte.errors import SignalError
from empreinte.hashing.signals import SPECS, HashValue, SignalType

PDQ_HEX = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_hex_round_trip_is_exact() -> None:
    value = HashValue.parse("pdq", PDQ_HEX)
    assert str(value) == PDQ_HEX
    assert HashValue.parse(SignalType.PDQ, str(value)) == value
    assert HashValue.parse("pdq", PDQ_HEX.upper()) == value


def test_distance_counts_differing_bits() -> None:
    a = HashValue.parse("pdq", PDQ_HEX)
    flipped = PDQ_HEX[:-1] + format(int(PDQ_HEX[-1], 16) ^ 0b0111, "x")
    assert a - HashValue.parse("pdq", flipped) == 3
    assert a - a == 0


def test_distance_across_signals_is_refused() -> None:
    a = HashValue.parse("phash", "0123456789abcdef")
    b = HashValue.parse("dhash", "0123456789abcdef")
    with pytest.raises(SignalError):
        _ = a - b


@pytest.mark.parametrize(
    ("signal", "text", "words"),
    [
        ("pdq", PDQ_HEX[:-2], "64 hex characters"),
        ("pdq", PDQ_HEX + "00", "64 hex characters"),
        ("pdq", "g" * 64, "not hexadecimal"),
        ("phash", "zz23456789abcdef", "not hexadecimal"),
        ("sha256", "00", "64 hex characters"),
        ("colour", "00", "unknown signal type"),
    ],
)
def test_malformed_values_are_refused(signal: str, text: str, words: str) -> None:
    with pytest.raises(SignalError, match=words):
        HashValue.parse(signal, text)


def test_degenerate_values_are_flagged() -> None:
    assert "all zeros" in (HashValue.parse("pdq", "0" * 64).entropy_problem() or "")
    assert "all ones" in (HashValue.parse("pdq", "f" * 64).entropy_problem() or "")
    low = "0" * 62 + "ff"
    assert "entropy" in (HashValue.parse("pdq", low).entropy_problem() or "")
    assert HashValue.parse("pdq", PDQ_HEX).entropy_problem() is None
    assert HashValue.parse("sha256", "0" * 64).entropy_problem() is None


def test_every_signal_has_one_spec() -> None:
    assert set(SPECS) == set(SignalType)
    for kind in SignalType:
        spec = kind.spec
        assert spec.display and spec.confidence(0) in (0.0, 1.0)
        if kind.perceptual:
            assert spec.confidence(spec.radius) == 0.5 and spec.region_radius <= spec.radius
    assert SignalType.PDQ.spec.confidence(31) == 0.5
    assert SignalType.ORB.spec.confidence(13) == 0.0 < SignalType.ORB.spec.confidence(14)


def test_local_features_are_not_a_hash_value() -> None:
    with pytest.raises(SignalError, match="local features"):
        HashValue.parse("orb", "00" * 32)
