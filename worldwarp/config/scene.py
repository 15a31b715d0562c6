"""Where the first frame comes from: a procedural scene with ground truth, or a user's image."""

from typing import Literal

from pydantic import Field, model_validator

from .base import Section, When


class SceneConfig(Section):
    APPLIES = {
        "name": When("no scene.image is set", lambda c: c.scene.image is None, ("scene.image",)),
        "constant_depth": When("a photo's depth is the constant plane (scene.depth_estimator=constant)",
                               lambda c: c.scene.image is not None and c.scene.input_depth(c.estimator.backend) == "constant",
                               ("scene.depth_estimator", "scene.image")),
    }
    name: Literal["room", "garden"] = Field("room", description="procedural scene (used when no image is given)")
    image: str | None = Field(None, description="path to the input photo; overrides the procedural scene")
    depth_estimator: Literal["auto", "scene", "constant", "model"] = Field(
        "auto", description="depth of the input: 'scene' = exact depth of the procedural scene; 'model' = the "
        "estimator section's depth model; 'constant' = a fronto-parallel plane at constant_depth (a weightless "
        "fallback for photos); 'auto' = scene without a photo, else model when estimator.backend names one, else constant")
    constant_depth: float = Field(3.0, gt=0, le=1e4, description="metres, for depth_estimator=constant")

    @model_validator(mode="after")
    def _check(self) -> "SceneConfig":
        if self.image is not None and self.depth_estimator == "scene":
            raise ValueError("a photo has no scene geometry: set scene.depth_estimator to model, constant or auto")
        return self

    def input_depth(self, estimator_backend: str) -> Literal["scene", "constant", "model"]:
        """Where the first frame's depth comes from, with 'auto' resolved."""
        if self.depth_estimator != "auto":
            return self.depth_estimator
        if self.image is None:
            return "scene"
        return "constant" if estimator_backend == "ground_truth" else "model"
