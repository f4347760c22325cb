"""The newcomer's demo finds every re-post, screenshots included, and drafts their notices."""

from __future__ import annotations

import io
from pathlib import Path

from empreinte.demo import run


def test_demo_finds_every_repost_with_its_box(tmp_path: Path) -> None:
    out = io.StringIO()
    found = run(tmp_path / "demo", out)
    text = out.getvalue()
    assert found == 9, text
    for kind in ("repost", "mirror", "screenshot"):
        assert sum(line.strip().startswith(kind) for line in text.splitlines()) == 3, text
    assert "unrelated" not in text.split("5. What was found")[1]
    assert "draft" in text
