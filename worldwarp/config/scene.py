"""Where the first frame comes from: a procedural scene with ground truth, or a user's image."""

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


class SceneConfig(Section):
    name: Literal["room", "garden"] = Field("room", description="procedural scene (used when no image is given)")
    image: str | None = Field(None, description="path to the input photo; overrides the procedural scene")
    depth_estimator: Literal["scene", "constant"] = Field(
        "scene", description="geometry of the input: 'scene' = exact depth of the procedural scene; "
        "'constant' = a fronto-parallel plane at constant_depth (a weightless fallback for photos)")
    constant_depth: float = Field(3.0, gt=0, le=1e4, description="metres, for depth_estimator=constant")

    @model_validator(mode="after")
    def _check(self) -> "SceneConfig":
        if self.image is not None and self.depth_estimator == "scene":
            raise ValueError("a photo has no scene geometry: set scene.depth_estimator=constant (or an estimator)")
        return self
