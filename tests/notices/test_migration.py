"""Migration 0003 creates exactly the notices room's tables, and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from empreinte.store import migrate
from empreinte.store.db import make_engine
from empreinte.store.models import Base, notices

OURS = {
    table.name
    for table in Base.metadata.sorted_tables
    if table.name in {m.__tablename__ for m in vars(notices).values() if hasattr(m, "__table__")}
}


def _touches_ours(diff: object) -> bool:
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            name = getattr(part, "name", None)
            table = getattr(part, "table", None)
            if name in OURS or getattr(table, "name", None) in OURS:
                return True
    return False


def test_the_migration_matches_the_notices_models(db_url: str) -> None:
    assert len(OURS) == 9
    engine = make_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _touches_ours(d)]
        assert set(inspect(connection).get_table_names()) >= OURS
    engine.dispose()
    assert diffs == []


def test_downgrade_to_0002_drops_the_notices_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/down.db"
    migrate.upgrade(url, "0003")
    engine = make_engine(url)
    command.downgrade(migrate.alembic_config(url), "0002")
    with engine.connect() as connection:
        assert not OURS & set(inspect(connection).get_table_names())
    engine.dispose()
