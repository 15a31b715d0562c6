"""World memory: a coarse geometric index of the frames a run stored, and retrieval of the past frames that see
what new cameras will see (docs/MEMORY.md). Pure numpy on small arrays: deterministic on any machine."""

from .index import FrameIndex, frame_index, index_stride
from .retrieval import Retrieval, coverage, retrieve

__all__ = ["FrameIndex", "Retrieval", "coverage", "frame_index", "index_stride", "retrieve"]
