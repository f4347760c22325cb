"""Run a decoding job in a separate process that can be killed.

FFmpeg's demuxers and decoders are C code fed with untrusted bytes. The job
runs in a fresh process (``spawn``: no state shared with a server's threads)
under an address-space limit (``RLIMIT_AS``) and a CPU-time limit
(``RLIMIT_CPU``); the caller waits at most the wall-time limit and then kills
it. Only the job's small result crosses back (hashes, never pixels). A crash,
an out-of-memory kill or a timeout becomes a refusal with a reason; the
calling worker never stalls.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Final, TypeVar

from empreinte.errors import ImageError
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.errors import UnsupportedVideo, VideoTooLarge

T = TypeVar("T")

_ERRORS: Final[dict[str, type[ImageError]]] = {
    "too_large": VideoTooLarge,
    "unsupported": UnsupportedVideo,
}


def run_isolated(job: Callable[[bytes, VideoLimits], T], data: bytes, limits: VideoLimits) -> T:
    """Return ``job(data, limits)`` computed in a killable child process.

    Raises :class:`VideoTooLarge` or :class:`UnsupportedVideo` as the job
    does, and for a timeout, a crash or memory exhaustion of the child.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, job, data, limits), daemon=False)
    process.start()
    sender.close()
    try:
        if not receiver.poll(limits.max_wall_seconds + limits.startup_seconds):
            raise VideoTooLarge(
                f"decoding took longer than {limits.max_wall_seconds:.0f} s;"
                " the decoder was stopped"
            )
        kind, payload = receiver.recv()
    except EOFError:
        process.join(5)
        raise UnsupportedVideo(_death(process.exitcode)) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
    if kind == "ok":
        result: T = payload
        return result
    raise _ERRORS[kind](str(payload))


def _child(
    sender: Connection, job: Callable[[bytes, VideoLimits], Any], data: bytes, limits: VideoLimits
) -> None:
    """Set the limits, run the job, send back ``(kind, payload)``."""
    cpu = int(limits.max_wall_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory, limits.max_memory))
    try:
        message: tuple[str, Any] = ("ok", job(data, limits))
    except VideoTooLarge as exc:
        message = ("too_large", exc.reason)
    except ImageError as exc:
        message = ("unsupported", exc.reason)
    except MemoryError:
        message = ("too_large", "decoding needs more memory than the limit allows")
    sender.send(message)
    sender.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the decoder crashed or was stopped (signal {-exitcode}); the file is refused"
    return f"the decoder stopped without an answer (exit code {exitcode}); the file is refused"
