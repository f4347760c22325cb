"""Map the video tables: which frame hashes a registered video carries, and when.

* ``video_frames``: one row per hash of a registered frame (its PDQ, then the
  PDQ of each centre crop), with the frame's time range and quality. The hash
  itself is a ``pdq`` row of ``hashes``, linked to the fingerprint in
  ``fingerprint_hashes`` like an image's PDQ, so that activeness, withdrawal,
  the change log, the live index and erasure treat video frames exactly as
  image hashes, and a still image's PDQ lookup finds a registered frame.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from empreinte.store.models import Base, BigId


class VideoFrame(Base):
    """One hash of one registered video frame: ``crop`` 0 is the frame, 1.. its centre crops."""

    __tablename__ = "video_frames"
    __table_args__ = (Index("ix_video_frames_hash_id", "hash_id"),)

    fingerprint_id: Mapped[str] = mapped_column(ForeignKey("fingerprints.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The frame's rank in the video's record."""
    crop: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash_id: Mapped[int] = mapped_column(BigId, ForeignKey("hashes.id"))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    quality: Mapped[int] = mapped_column(Integer)
