"""Procedural scenes with exact RGB, depth and visibility for any camera (the ground truth of the demos
and the metrics). ``make_scene(name).render(cams)`` -> (rgb (N, H, W, 3), z-depth (N, H, W))."""

from __future__ import annotations

from .base import Scene
from .preview import save_preview

SCENES = ("room", "garden")


def make_scene(name: str) -> Scene:
    """The named procedural scene; ValueError names the valid ones."""
    if name == "room":
        from .room import make_room

        return make_room()
    if name == "garden":
        from .garden import make_garden

        return make_garden()
    raise ValueError(f"unknown scene {name!r}; valid scenes: {', '.join(SCENES)}")


__all__ = ["SCENES", "Scene", "make_scene", "save_preview"]
