"""The experiment list that `dvc repro` generates and evaluates (one longshot per entry).

An experiment's config is params.yaml, then ``common``, then its own overrides (section.key=value).
``common`` holds only sizing, so `dvc exp run --set-param splat.steps=...` still reaches every run.
"""

from pydantic import Field, field_validator

from .base import Section

CPU_SIZING = ["resolution.height=160", "resolution.width=256", "chunk.frames=17", "chunk.count=3",
              "device=cpu"]


class ExperimentsConfig(Section):
    common: list[str] = Field(default_factory=lambda: list(CPU_SIZING),
                              description="overrides applied to every experiment (CPU-sized by default)")
    runs: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "room_forward": ["scene.name=room", "trajectory.preset=forward", "trajectory.distance=2.0"],
            "garden_orbit": ["scene.name=garden", "trajectory.preset=orbit_left", "trajectory.angle_deg=40"],
        },
        description="experiment name -> its overrides")

    @field_validator("runs")
    @classmethod
    def _names(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in v:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"experiment name {name!r} must be letters, digits, '_' or '-'")
        return v
