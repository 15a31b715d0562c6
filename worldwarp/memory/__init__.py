"""World memory: a coarse geometric index of the frames a run stored, the map of those still worth retrieving, and
retrieval of the past frames that see what new cameras will see (docs/MEMORY.md). Pure numpy on small arrays:
deterministic on any machine."""

from .index import FrameIndex, frame_index, index_stride
from .retrieval import Retrieval, coverage, retrieve
from .world_map import WorldMap, empty_map, merge

__all__ = ["FrameIndex", "Retrieval", "WorldMap", "coverage", "empty_map", "frame_index", "index_stride", "merge",
           "retrieve"]
