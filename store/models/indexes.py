"""Declare the indexes the console's lists and counts need, on the registry's and notices' tables.

Notice rows are wide (their document is JSON), so lists and counts of one
NGO's notices read these narrow indexes in order instead of sorting the rows.
They are created by migration 0006.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Index

from empreinte.store import models as m
from empreinte.store.models.notices import Notice

CASES_BY_DATE: Final = Index(
    "ix_cases_organisation_created", m.Case.organisation_id, m.Case.created_at
)
NOTICES_BY_DATE: Final = Index(
    "ix_notices_organisation_created", Notice.organisation_id, Notice.created_at
)
NOTICES_BY_STATUS: Final = Index(
    "ix_notices_organisation_status",
    Notice.organisation_id,
    Notice.status,
    Notice.created_at,
    Notice.sent_at,
    Notice.removed_at,
    Notice.sighting_id,
)
