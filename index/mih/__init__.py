"""Exact multi-index hashing over binary codes: the Hamming index of every perceptual signal.

:mod:`.core` holds :class:`HammingIndex` (the design is in its docstring),
:mod:`.kernels` its numba kernels, :mod:`.view` its state, and :mod:`.fileformat`
the snapshot layout.
"""

from empreinte.index.mih.core import HammingIndex
from empreinte.index.mih.fileformat import IndexFileError

__all__ = ["HammingIndex", "IndexFileError"]
