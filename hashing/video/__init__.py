"""Fingerprint videos and compare their frame hashes: bytes in, fingerprints out.

* :mod:`.sniff` tells a video container from its first bytes;
* :mod:`.decode` opens a container from memory within :class:`~.decode.VideoLimits`
  and yields frames sampled by presentation time (or as vPDQ samples them);
* :mod:`.frames` holds the frame signals, their deduplication and keyframe choice;
* :mod:`.worker` runs the decoder in a separate process that can be killed;
* :mod:`.fingerprint` makes the registered record (with its per-minute size cap);
* :mod:`.query` hashes an upload (or a still) that may be a re-post;
* :mod:`.vpdq` reads and writes vPDQ's ``frame,quality,hash,seconds`` lines;
* :mod:`.compare` decides whether a query video contains a registered one;
* :mod:`.errors` names the refusals (subclasses of :class:`~empreinte.errors.ImageError`).

Decisions: a GIF stays an image (its first frame, as ``empreinte.hashing.decode``
does), even with 5,000 frames; a video whose header declares more than
``VideoLimits.max_seconds`` (2 hours) is refused before decoding, and one whose
frames run past it is refused when decoding reaches the limit, never cut.
"""
