"""Run one frontier entry through the crawler's steps, in the one order written here.

::

    frontier → robots → politeness → fetch → extract → pipeline → frontier

The frontier hands out claimed entries and takes them back (``worker`` and
``commit``); between, each step is an ``async`` function of the item and the
worker's context. A step drops the item by raising
:class:`~empreinte.crawler.errors.Skip`; its reason is counted in the crawl's
summary. Any other exception is a bug: it is logged and counted as
``internal``, and the crawl goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from empreinte.crawler import extract, fetch, pipeline, politeness, robots
from empreinte.crawler.context import Context
from empreinte.crawler.errors import Skip
from empreinte.crawler.item import Item

log = logging.getLogger(__name__)

Step = Callable[[Item, Context], Awaitable[None]]

STEPS: Final[tuple[Step, ...]] = (
    robots.check,
    politeness.wait,
    fetch.fetch,
    extract.extract,
    pipeline.hash_image,
)


async def process(item: Item, ctx: Context, steps: tuple[Step, ...] = STEPS) -> Item:
    """Run ``item`` through ``steps``; a :class:`Skip` or a bug ends up in ``item.skip``."""
    try:
        for step in steps:
            await step(item, ctx)
    except Skip as skip:
        item.skip = skip
    except Exception as exc:
        log.exception("crawler step failed on %s", item.entry.url)
        item.skip = Skip("internal", f"{type(exc).__name__}: {exc}")
    finally:
        item.release_slot()
    return item
