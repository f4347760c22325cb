"""notices: sightings, takedown notices, delivery, re-checks and statistics.

The path of a notice, module by module:

* :mod:`service` records a match at a URL (``record_sighting``) and drafts notices;
* :mod:`safety` holds the false-positive controls (policies, negative list,
  flood quarantine, reliability) and :mod:`consent` the victim's mandate;
* :mod:`review` approves, rejects, re-sends and takes platforms' answers, moving
  notices through :mod:`lifecycle`;
* :mod:`content` writes the notice document, :mod:`render` its French and
  English forms, :mod:`export` the dated evidence file;
* :mod:`outbox`, :mod:`channels` and :mod:`contacts` deliver it;
  :mod:`recheck` and :mod:`fetch` follow it until removal; :mod:`worker` runs both;
* :mod:`report` counts a year of notices for the DSA art. 22 report.
"""
