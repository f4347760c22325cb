"""Declare the indexes the console's lists and counts need, on the registry's and notices' tables.

Notice rows are wide (their document is JSON), so lists and counts of one
NGO's notices read these narrow indexes in order instead of sorting the rows.
They are created by migrations 0007 and 0008.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Index

from empreinte.store import models as m
from empreinte.store.models.notices import Notice, Sighting, Transition

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
NOTICES_FOR_REPORT: Final = Index(
    "ix_notices_organisation_report",
    Notice.organisation_id,
    Notice.id,
    Notice.sighting_id,
    Notice.status,
    Notice.category,
    Notice.round,
)
"""Let the DSA report group an NGO's notices without reading their wide rows."""
SIGHTINGS_FOR_COUNTS: Final = Index(
    "ix_sightings_counts", Sighting.id, Sighting.host, Sighting.signal, Sighting.first_seen
)
"""Let counts joined from notices read a sighting's host, signal and date from the index."""
FIRST_SENDING: Final = Index(
    "ix_notice_transitions_sent", Transition.to_status, Transition.notice_id, Transition.at
)
"""Find a notice's first sending with one seek."""
MOVES_IN_ORDER: Final = Index(
    "ix_notice_transitions_moves",
    Transition.notice_id,
    Transition.at,
    Transition.id,
    Transition.to_status,
    Transition.from_status,
)
"""Walk a notice's moves in order (sending to removal spans) without sorting or reading rows."""
