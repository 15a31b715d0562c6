"""Image size, intrinsics and the camera trajectory."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..geometry.movements import canonical
from .base import Section, When

Preset = Literal[
    "forward", "backward", "orbit_left", "orbit_right", "pan_left", "pan_right",
    "truck_left", "truck_right", "zoom_in", "zoom_out", "spiral",
]


class ResolutionConfig(Section):
    height: int = Field(480, ge=16, le=4096)
    width: int = Field(720, ge=16, le=4096)

    @field_validator("height", "width")
    @classmethod
    def _multiple_of_16(cls, v: int) -> int:
        # VAE downsamples 8x and the transformer patchifies 2x2.
        if v % 16:
            raise ValueError(f"must be a multiple of 16 (VAE 8x times patch 2x), got {v}")
        return v


def _preset_path(c) -> bool:
    return c.trajectory.file is None and c.trajectory.movements is None


def _preset_in(*names: str):
    return lambda c: _preset_path(c) and c.trajectory.preset in names


_SOURCE = ("trajectory.preset", "trajectory.movements", "trajectory.file")
MOVING, TURNING, ZOOMING = ("forward", "backward", "truck_left", "truck_right", "spiral"), \
    ("pan_left", "pan_right", "orbit_left", "orbit_right"), ("zoom_in", "zoom_out")


class TrajectoryConfig(Section):
    # which knobs shape which path: the others are refused when set by the user (config/applies.py)
    APPLIES = {
        "preset": When("neither trajectory.file nor trajectory.movements is set", _preset_path, _SOURCE),
        "distance": When(f"the preset translates ({', '.join(MOVING)})", _preset_in(*MOVING), _SOURCE),
        "angle_deg": When(f"the preset turns ({', '.join(TURNING)})", _preset_in(*TURNING), _SOURCE),
        "zoom": When(f"the preset zooms ({', '.join(ZOOMING)})", _preset_in(*ZOOMING), _SOURCE),
        "pivot_depth": When("the path orbits (orbit_left/right presets, or movements)",
                            lambda c: c.trajectory.file is None and (c.trajectory.movements is not None or c.trajectory.preset
                                                                      in ("orbit_left", "orbit_right")), _SOURCE),
        "fov_deg": When("no trajectory.file is set (a camera file brings its own intrinsics)",
                        lambda c: c.trajectory.file is None, ("trajectory.file",)),
        "easing": When("the path is a preset", _preset_path, _SOURCE),
        "spiral_radius": When("the preset is spiral", _preset_in("spiral"), _SOURCE),
        "spiral_turns": When("the preset is spiral", _preset_in("spiral"), _SOURCE),
        "anchor_file": When("the path is a trajectory.file", lambda c: c.trajectory.file is not None, ("trajectory.file",)),
        "extend": When("the path is a trajectory.file", lambda c: c.trajectory.file is not None, ("trajectory.file",)),
    }
    preset: Preset = "forward"
    file: str | None = Field(None, description="cameras.npz or RealEstate10K .txt; overrides preset")
    distance: float = Field(1.0, gt=0, le=1e4, description="metres travelled over the whole longshot (translating presets)")
    angle_deg: float = Field(60.0, gt=0, le=3600, description="degrees swept over the whole longshot (rotating presets)")
    zoom: float = Field(2.0, gt=0.05, le=20, description="final focal length / initial (zoom presets)")
    pivot_depth: float = Field(3.0, gt=0, description="orbit pivot distance in front of the first camera, metres")
    fov_deg: float = Field(60.0, gt=5, lt=170, description="horizontal field of view of the first camera")
    easing: Literal["linear", "smooth"] = Field(
        "linear", description="progress along the preset path: linear = constant speed, smooth = ease in and out"
    )
    spiral_radius: float = Field(0.25, ge=0, le=1e4, description="radius of the spiral preset's circle, metres")
    spiral_turns: float = Field(1.0, ge=0, le=1000, description="circles made by the spiral preset over the longshot")
    anchor_file: bool = Field(
        True, description="re-express a trajectory file relative to its first camera, so frame 0 is the start pose"
    )
    movements: str | list[str | list[str]] | None = Field(
        None, description='named camera movements, e.g. "DOLLY_IN + PAN_RIGHT", or a list with one per chunk (the '
        "last repeats); overrides preset; see worldwarp/geometry/movements.py")
    speed: float = Field(1.0, gt=0, le=100, description="motion per frame multiplier (movements, presets and files)")
    extend: Literal["error", "extrapolate", "loop", "pingpong", "slowdown"] = Field(
        "extrapolate", description="a trajectory file shorter than the longshot: continue the last 10 frames' motion, "
        "restart, run back and forth, decelerate, or refuse")

    @field_validator("movements")
    @classmethod
    def _known_movements(cls, v):
        # stored canonically (a list of "A + B" strings), so equal motions give equal params
        if v is None:
            return None
        entries = [v] if isinstance(v, str) else v
        if not entries:
            raise ValueError("an empty list of camera movements (use null for the preset)")
        return [canonical(e) for e in entries]

    @model_validator(mode="after")
    def _one_source(self) -> "TrajectoryConfig":
        if self.file is not None and self.movements is not None:
            raise ValueError("set trajectory.file or trajectory.movements, not both")
        return self
