"""What each chunk's 3DGS cache remembers of the run (docs/MEMORY.md).

``fresh``: the cache is rebuilt from the chunk's history frames only (the paper's choice; the ``official`` profile
pins it). ``append``: every chunk's Gaussians are kept and the new frames' appended (unbounded). ``world``: the cache
is built from the history frames plus the K stored frames of earlier chunks that see most of what the chunk's
cameras will see (geometry-indexed retrieval, bounded). ``splat.fresh`` is the deprecated alias of the first two.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Section

Mode = Literal["fresh", "append", "world"]
SeedOrder = Literal["retrieved_first", "history_first"]


class MemoryConfig(Section):
    mode: Mode = Field("world", description="fresh: cache from the newest frames only (the paper's); append: keep every "
                       "chunk's Gaussians (unbounded); world: newest frames + K retrieved past frames (docs/MEMORY.md)")
    retrieve: int = Field(4, ge=0, le=64, description="world: past frames retrieved per chunk (K), at most")
    index_points: int = Field(2048, ge=16, le=1_000_000, description="world: about this many points of each stored "
                              "frame's depth (a regular pixel grid) go into the retrieval index, whatever the resolution")
    grid: int = Field(12, ge=2, le=256, description="world: cells across the width of each new camera in which "
                      "coverage is counted (rows in proportion)")
    age_decay: float = Field(0.9, gt=0, le=1, description="world: a frame first stored by chunk j counts "
                             "age_decay**j as much (earlier observations carry fewer compounded re-fits)")
    occlusion_tolerance: float = Field(0.25, gt=0, description="world: an index point counts in a cell only if its "
                                       "depth there is within this relative margin of the nearest indexed point")
    cameras: int = Field(8, ge=1, le=1024, description="world: coverage is scored in at most this many of the chunk's "
                         "new cameras, evenly spaced, first and last included (retrieval cost grows with cameras x "
                         "stored points; neighbouring cameras of a chunk see nearly the same cells)")
    voxel: float = Field(4.0, gt=0, le=100, description="world: edge of the world map's voxels, in index points: 1 = "
                         "the spacing of the run's first indexed points at their median depth (docs/MEMORY.md)")
    redundancy: float = Field(0.8, gt=0, le=1, description="world: a stored frame leaves the world map when the "
                              "map's other frames, between them, saw at least this share of its voxels at least as "
                              "well (docs/MEMORY.md)")
    seed_order: SeedOrder = Field("history_first", description="world: which frames seed the cache first; where "
                                  "a later frame's pixel lands on an earlier seed, it seeds nothing (docs/MEMORY.md)")
    retrieved_tolerance: float = Field(0.1, gt=0, le=1, description="world: a retrieved frame's pixel seeds nothing "
                                       "where an earlier frame's seed lands within this share of its depth "
                                       "(history frames: 0.02, splat.dedup's own)")
    seed_budget: float | None = Field(None, gt=0, le=64, description="world: the most Gaussians the retrieved frames "
                                      "may seed, in frames' worth of seeds (one frame's sub-sampled pixels); over "
                                      "it each retrieved frame is thinned evenly (ordered dither, splats enlarged), "
                                      "down to 1 pixel in 64; none = no limit (docs/MEMORY.md)")
    min_gain: float = Field(0.02, ge=0, le=1, description="world: stop retrieving when the best frame would improve "
                            "less than this share of the chunk's cells")


def alias_fresh(data: Any) -> Any:
    """Map the deprecated ``splat.fresh`` onto ``memory.mode`` (params files and stores written before it)."""
    if not isinstance(data, dict) or not isinstance(data.get("splat"), dict) or "fresh" not in data["splat"]:
        return data
    data = {**data, "splat": dict(data["splat"])}
    fresh = data["splat"].pop("fresh")
    if not isinstance(fresh, bool):
        raise ValueError(f"splat.fresh (deprecated: use memory.mode) must be true or false, got {fresh!r}")
    mode = "fresh" if fresh else "append"
    memory = data.get("memory") if isinstance(data.get("memory"), dict) else {}
    if memory.get("mode", mode) != mode:
        raise ValueError(f"splat.fresh={str(fresh).lower()} (deprecated alias of memory.mode={mode}) contradicts "
                         f"memory.mode={memory['mode']}")
    data["memory"] = {**memory, "mode": mode}
    return data


def unused_knobs(m: MemoryConfig, dedup: bool = True) -> list[str]:
    """Why memory knobs set away from their defaults are not read by the run (an error, not silently ignored), one
    line each: all but ``mode`` outside world mode, ``retrieved_tolerance`` when ``splat.dedup`` is off,
    ``seed_budget`` when nothing is retrieved (``retrieve=0``)."""
    default = MemoryConfig(mode=m.mode)
    if m.mode != "world":
        off = [f"memory.{n}" for n in type(m).model_fields if n != "mode" and getattr(m, n) != getattr(default, n)]
        return [f"{', '.join(off)} only apply to memory.mode=world (it is {m.mode})"] if off else []
    why = []
    if not dedup and m.retrieved_tolerance != default.retrieved_tolerance:
        why.append("memory.retrieved_tolerance only applies with splat.dedup=true (it is false)")
    if m.retrieve == 0 and m.seed_budget is not None:
        why.append("memory.seed_budget only applies when frames are retrieved (memory.retrieve is 0)")
    return why
