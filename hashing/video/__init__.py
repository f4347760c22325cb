"""Fingerprint videos and compare their frame hashes: bytes in, fingerprints out.

* :mod:`.sniff` tells a video container from its first bytes;
* :mod:`.decode` opens a container from memory within :class:`~.decode.VideoLimits`
  and yields frames sampled by presentation time (or as vPDQ samples them);
* :mod:`.frames` holds the frame signals, their deduplication and keyframe choice;
* :mod:`.worker` runs the decoder in a separate process that can be killed;
* :mod:`.fingerprint` makes the registered record and the query of a re-post;
* :mod:`.vpdq` reads and writes vPDQ's ``frame,quality,hash,seconds`` lines;
* :mod:`.compare` decides whether a query video contains a registered one.
"""
