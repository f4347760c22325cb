"""Fixtures of the hostile tests: the API servers and the registries of the other suites."""

from tests.api.conftest import api, sqlite_api
from tests.notices.conftest import (
    db_url,
    postgres_once,
    sessions,
    sqlite_sessions,
    sqlite_template,
)

__all__ = [
    "api",
    "db_url",
    "postgres_once",
    "sessions",
    "sqlite_api",
    "sqlite_sessions",
    "sqlite_template",
]
