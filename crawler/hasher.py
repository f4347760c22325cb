"""Hash images away from the event loop: in worker processes, or in one thread for tests.

Decoding and PDQ hold the GIL for much of their time: in threads they would
stall the event loop, the downloads and the database calls of the same
worker. Processes (``spawn``ed, each warmed up once, one OpenCV thread each) run
them on the other cores, and contain a decoder that crashes on a hostile
image: the pool is rebuilt and the image is retried, then dropped as
``hasher_crashed``. They exit when their worker dies, even by ``kill -9``.
Bytes go to the process through a pipe and are never written anywhere.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from empreinte.detection.service import ImageQuery, prepare_image
from empreinte.hashing.decode import Limits

__all__ = ["BrokenProcessPool", "Hasher"]


def _start(parent: int) -> None:
    """Prepare a new hashing process: follow its parent, one OpenCV thread, kernels loaded.

    A process pool's children outlive a parent killed with ``kill -9`` (each
    holds both ends of its own task pipe, so it never sees end-of-file); a
    watcher thread makes them exit instead.
    """
    import cv2
    from PIL import Image

    threading.Thread(target=_follow, args=(parent,), daemon=True).start()
    cv2.setNumThreads(1)

    buffer = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(buffer, "PNG")
    prepare_image(buffer.getvalue(), Limits())


def _follow(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


class Hasher:
    """Compute ``prepare_image`` in ``processes`` processes (0: in one thread of this one)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> Executor:
        """Make a pool and start all its processes now, so the first images do not wait."""
        if self.processes <= 0:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawler-hash")
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=mp.get_context("spawn"),
            initializer=_start,
            initargs=(os.getpid(),),
        )
        for _ in range(self.processes):
            pool.submit(int)
        return pool

    async def queries(self, data: bytes, limits: Limits) -> ImageQuery:
        """Hash ``data``; if a process died, renew the pool and raise ``BrokenProcessPool``."""
        pool = self._pool
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, prepare_image, data, limits)
        except BrokenProcessPool:
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
