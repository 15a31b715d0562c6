"""Where the first frame comes from: a procedural scene with ground truth, or a user's image."""

from typing import Literal

from pydantic import Field

from .base import Section


class SceneConfig(Section):
    name: Literal["room", "garden"] = Field("room", description="procedural scene (used when no image is given)")
    image: str | None = Field(None, description="path to the input photo; overrides the procedural scene")
    depth_estimator: Literal["scene", "none"] = Field("scene", description="geometry source for the input")
