"""Run real servers on loopback for tests: the Empreinte API under uvicorn, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from empreinte.api.app import create_app, server_config
from empreinte.runtime import Runtime
from empreinte.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, alive: Callable[[], bool], timeout: float = 120) -> None:
    """Poll ``/readyz`` until it answers 200; raise if ``alive()`` turns false or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not alive():
            raise RuntimeError("the API server did not become ready")
        time.sleep(0.05)


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    """Serve the app for ``settings`` on a free loopback port; yield its base URL when ready."""
    port = free_port()
    config = server_config(
        create_app(Runtime(settings)), "127.0.0.1", port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, thread.is_alive)
    except RuntimeError:
        server.should_exit = True
        raise
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
