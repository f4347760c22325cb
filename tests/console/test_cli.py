"""``empreinte users create``: a person's account from the server's command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from empreinte.cli import EXIT_OK, EXIT_USAGE, main
from empreinte.settings import Settings
from empreinte.store import models as m
from empreinte.store import users
from empreinte.store.db import make_engine, make_sessionmaker


def test_users_create_prints_a_password_that_signs_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path)]
    args = ["users", "create", "--org", "E-Enfance", "--email", "Rev@E-Enfance.example"]
    assert main([*args, "--role", "reviewer", *data]) == EXIT_OK
    password = capsys.readouterr().out.strip()
    assert len(password) >= users.MIN_PASSWORD
    assert main([*args, "--role", "reviewer", *data]) == EXIT_USAGE
    assert "exists already" in capsys.readouterr().err
    bad = ["users", "create", "--org", "E-Enfance", "--email", "<b>x</b>", "--role", "reviewer"]
    assert main([*bad, *data]) == EXIT_USAGE
    assert "not an email" in capsys.readouterr().err
    engine = make_engine(Settings(data_dir=tmp_path).url)
    with make_sessionmaker(engine).begin() as session:
        user = users.sign_in(
            session, "rev@e-enfance.example", password, client="t", code=None, now=m.utcnow()
        )
        assert user.role == "reviewer"
        assert session.get_one(m.Organisation, user.organisation_id).name == "E-Enfance"
    engine.dispose()
