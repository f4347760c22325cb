"""crawler: find re-posted images on sites that call no one, safely, politely, resumably.

The steps, each a module, in the order :data:`empreinte.crawler.engine.STEPS`
runs them::

    frontier → robots → politeness → fetch → extract → pipeline → frontier

Why asyncio and httpx rather than Scrapy: Scrapy's scheduler and duplicate
filter live in one process's memory, and its downloader resolves and
connects on its own. Empreinte needs instead

* a frontier in the database, shared by workers in many processes and on
  many machines (``SELECT … FOR UPDATE SKIP LOCKED`` with leases), which
  survives ``kill -9`` without refetching finished pages;
* an SSRF check after DNS resolution on every connection and every redirect,
  connecting to the very address checked: a network backend under httpx's
  transport does that (:mod:`~empreinte.net.guard`), and the same
  transport seam takes ``httpx.MockTransport`` in tests;
* images handled in memory only, hashed in worker processes, matched through
  the same use case as the platform endpoint, in the transaction that closes
  the URL.

Scrapy could be bent to each of these, but every one replaces one of its core
components; a few hundred lines of asyncio are simpler to read and to trust.
The entry points are :func:`empreinte.crawls.service.create_crawl`,
:func:`empreinte.crawls.service.progress`, :func:`empreinte.crawler.worker.run`
and :func:`empreinte.crawler.cli.crawl_command`.
"""
