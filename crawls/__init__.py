"""Crawl jobs in the database: scheduling, scope and limits, the frontier, progress.

Plain-Python services over a session, with no network: the API schedules and
reports crawls through them, and the crawler's workers (``empreinte.crawler``)
claim and close frontier entries through them.
"""
