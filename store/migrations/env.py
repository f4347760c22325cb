"""Alembic environment: the URL comes from the caller's settings, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from empreinte.settings import Settings
from empreinte.store.db import make_engine
from empreinte.store.models import Base, console, crawls, indexes, notices, videos

_TABLE_MODULES = (console, crawls, indexes, notices, videos)
"""Imported for their tables: every table of Empreinte is declared in ``store/models/``."""

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().url
    engine = make_engine(url)
    with engine.connect() as new_connection:
        _run(new_connection)
    engine.dispose()


run_online()
