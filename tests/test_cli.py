"""The victim's command line, fed good photos and hostile files alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from empreinte.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from tests.conftest import encode, photo, png_bomb


def _summary_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Summary:"))


def _hostile_folder(root: Path) -> dict[str, str]:
    """Fill ``root`` with good and bad files; return each bad name and a word of its reason."""
    for seed in range(3):
        (root / f"good-{seed}.jpg").write_bytes(encode(photo(seed), "JPEG"))
    (root / "renamed.jpg").write_bytes(encode(photo(10), "PNG"))
    wide = (np.asarray(photo(11).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    (root / "deep.tiff").write_bytes(encode(Image.fromarray(wide), "TIFF"))
    (root / "print.tiff").write_bytes(encode(photo(12).convert("CMYK"), "TIFF"))
    (root / "palette.png").write_bytes(encode(photo(13).convert("P"), "PNG"))
    (root / "empty.jpg").write_bytes(b"")
    truncated = encode(photo(14, (800, 600)), "JPEG")
    (root / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    (root / "random.png").write_bytes(np.random.default_rng(1).bytes(4096))
    (root / "bomb.png").write_bytes(png_bomb())
    (root / "blank.png").write_bytes(encode(Image.new("RGB", (300, 200), (200, 200, 200)), "PNG"))
    sub = root / "nested"
    sub.mkdir()
    (sub / "loop").symlink_to("..")
    (root / "self").symlink_to("self")
    return {
        "empty.jpg": "empty",
        "truncated.jpg": "truncated",
        "random.png": "not an image",
        "bomb.png": "decompression bomb",
        "blank.png": "quality",
        "self": "symlink loop",
        "nested/loop": "loop",
    }


@pytest.mark.parametrize("jobs", [1, 2])
def test_hostile_batch_finishes_and_keeps_good_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: int
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    bad = _hostile_folder(folder)
    out = tmp_path / "fp.json"
    code = main(["hash", str(folder), "-o", str(out), "--jobs", str(jobs)])
    printed = capsys.readouterr().out
    assert code == EXIT_PARTIAL
    for name, words in bad.items():
        line = next(
            line for line in printed.splitlines() if line.strip().startswith(str(folder / name))
        )
        assert words in line, line
    document = json.loads(out.read_text())
    assert len(document["records"]) == 7
    assert "7 hashed, 1 refused for low quality, 5 unreadable, 1 skipped" in _summary_line(printed)
    manifest = json.loads((tmp_path / "fp.local-manifest.json").read_text())
    paths = {e["path"] for e in manifest["entries"]}
    assert str(folder / "renamed.jpg") in paths
    assert str(folder / "nested" / "loop") not in "".join(paths)
    assert str(folder) not in out.read_text()


def test_all_good_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(encode(photo(1), "JPEG"))
    out = tmp_path / "out.json"
    assert main(["hash", str(image), "-o", str(out), "-q"]) == EXIT_OK
    assert _summary_line(capsys.readouterr().out).startswith("Summary: 1 hashed")


def test_missing_path_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(["hash", str(tmp_path / "nope.jpg"), "-o", str(out)]) == EXIT_PARTIAL
    assert "No such file" in capsys.readouterr().out


def test_usage_errors() -> None:
    with pytest.raises(SystemExit) as info:
        main(["hash", "x.jpg"])
    assert info.value.code == EXIT_USAGE
    assert main([]) == EXIT_USAGE


def test_help_speaks_to_a_person(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["hash", "--help"])
    text = capsys.readouterr().out
    assert "never leave this computer" in text
    assert "do not send it to anyone" in text


def test_compare_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = photo(20, (640, 480))
    a = tmp_path / "a.png"
    a.write_bytes(encode(original, "PNG"))
    b = tmp_path / "b.jpg"
    b.write_bytes(encode(original.resize((320, 240)), "JPEG", quality=70))
    c = tmp_path / "c.png"
    c.write_bytes(encode(photo(21, (640, 480)), "PNG"))
    verdicts = []
    for other in (a, b, c):
        assert main(["compare", str(a), str(other)]) == EXIT_OK
        verdicts.append(capsys.readouterr().out.splitlines()[-1])
    assert "same file" in verdicts[0]
    assert "same image" in verdicts[1]
    assert "different" in verdicts[2]


def _as_unprivileged(command: list[str]) -> list[str]:
    """Run ``command`` without root's power to read every folder.

    As root, a user namespace maps us to ``nobody``: the files stay ours, but
    their permission bits apply again. Other users run the command as it is.
    """
    if os.geteuid() != 0:
        return command
    if shutil.which("unshare") is None:
        pytest.skip("running as root without util-linux unshare")
    return ["unshare", "--user", "--map-user=65534", "--map-group=65534", "--", *command]


def test_unreadable_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ok.jpg").write_bytes(encode(photo(1), "JPEG"))
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "inside.jpg").write_bytes(encode(photo(2), "JPEG"))
    locked.chmod(0o000)
    out = tmp_path / "out.json"
    try:
        result = subprocess.run(
            _as_unprivileged(
                [sys.executable, "-m", "empreinte", "hash", str(tmp_path), "-o", str(out)]
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        locked.chmod(0o755)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    assert f"{locked}: cannot read folder: Permission denied" in result.stdout
    assert "1 hashed" in result.stdout
    assert len(json.loads(out.read_text())["records"]) == 1
