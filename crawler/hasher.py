"""Hash images away from the event loop: in worker processes, or in one thread for tests.

Decoding and PDQ hold the GIL for much of their time: in threads they would
stall the event loop, the downloads and the database calls of the same
worker. Processes (``spawn``ed, each warmed up once) run them on the other
cores, and contain a decoder that crashes on a hostile image: the pool is
rebuilt and the image is retried, then dropped as ``hasher_crashed``.
Bytes go to the process through a pipe and are never written anywhere.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing as mp
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from empreinte.detection.service import Query, image_queries
from empreinte.hashing.decode import Limits

__all__ = ["BrokenProcessPool", "Hasher"]


def _warm_up() -> None:
    """Load the hashing code and its compiled kernels in a new process, before real work."""
    import cv2
    from PIL import Image

    cv2.setNumThreads(1)

    buffer = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(buffer, "PNG")
    image_queries(buffer.getvalue(), Limits())


class Hasher:
    """Compute ``image_queries`` in ``processes`` processes (0: in one thread of this one)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> Executor:
        """Make a pool and start all its processes now, so the first images do not wait."""
        if self.processes <= 0:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawler-hash")
        pool = ProcessPoolExecutor(
            max_workers=self.processes, mp_context=mp.get_context("spawn"), initializer=_warm_up
        )
        for _ in range(self.processes):
            pool.submit(int)
        return pool

    async def queries(self, data: bytes, limits: Limits) -> list[Query]:
        """Hash ``data``; if a process died, renew the pool and raise ``BrokenProcessPool``."""
        pool = self._pool
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, image_queries, data, limits)
        except BrokenProcessPool:
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
