"""Re-post-tolerant matching: crops, rotations, screenshots, stories and collages.

* :mod:`~empreinte.hashing.robust.features` - registered side: capped ORB local
  features (``orb-v1``, <= 256 x 32-byte descriptors, 7-bit positions, <= 16 KB base64).
* :mod:`~empreinte.hashing.robust.regions` - query side: photo-region proposals.
* :mod:`~empreinte.hashing.robust.matcher` - query features, geometric verification,
  :class:`Match` (inliers, box, confidence). The registry side is
  :class:`empreinte.index.robust.RobustMatcher`.
* :mod:`~empreinte.hashing.robust.hamming` - popcount and brute-force Hamming 2-NN.

Pure: pixels in, features or matches out; no database, no network.
"""

from empreinte.hashing.robust.features import LocalFeatures, extract
from empreinte.hashing.robust.matcher import Match

__all__ = ["LocalFeatures", "Match", "extract"]
