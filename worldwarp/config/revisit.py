"""The revisit benchmark (benchmarks/revisit.py, dvc stage revisit, docs/MEMORY.md): out-and-back paths on a
procedural scene, each memory mode with each filler. The memory knobs other than the mode are the memory section's."""

from typing import Literal

from pydantic import Field

from .base import Section


class RevisitConfig(Section):
    scene: str = Field("room", description="procedural scene")
    height: int = Field(160, ge=16, le=4096, description="frame height (the demo's 160x256)")
    width: int = Field(256, ge=16, le=4096)
    chunks: int = Field(8, ge=2, le=1000, description="chunks of 17 frames (history 5): 8 -> 101 frames, 50 revisits")
    steps: int = Field(150, ge=0, le=100_000, description="3DGS steps per chunk (the demo's 150)")
    distance: float = Field(1.0, gt=0, le=100, description="metres of the out leg")
    offset: float = Field(0.05, ge=0, le=10, description="metres the offset return lies to the right of the out leg")
    modes: list[Literal["fresh", "append", "world"]] = Field(["fresh", "world"], min_length=1)
    fillers: list[Literal["classical", "oracle", "exact"]] = Field(
        ["classical", "oracle"], min_length=1,
        description="oracle: the exact render perturbed per chunk; exact: unperturbed (the cache's own loss)")
    paths: list[Literal["identical", "offset", "pan360", "orbit360", "excursion"]] = Field(
        ["identical", "offset"], min_length=1,
        description="identical / offset: out and back along the same poses / 5 cm beside them; pan360 / orbit360: "
                    "a closed turn in place / about a point 3 m ahead; excursion: out, a 90 degree turn, and back")
