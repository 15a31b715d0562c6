"""A PNG contact sheet of a scene's views: one row per camera, RGB | depth (colour-mapped)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..geometry.cameras import Cameras

if TYPE_CHECKING:
    from .base import Scene

# a few anchors of a perceptual-ish near=warm / far=cool map, interpolated linearly
_ANCHORS = np.array([[0.99, 0.91, 0.15], [0.96, 0.45, 0.15], [0.75, 0.15, 0.40], [0.35, 0.10, 0.55], [0.05, 0.03, 0.25]])


def depth_to_color(depth: torch.Tensor) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) float in [0, 1]; colour follows inverse depth, so near detail stays visible."""
    inv = 1.0 / depth.double().clamp_min(1e-6).cpu().numpy()
    lo, hi = inv.min(), inv.max()
    x = (hi - inv) / max(hi - lo, 1e-12) * (len(_ANCHORS) - 1)  # 0 = nearest
    i = np.clip(np.floor(x).astype(int), 0, len(_ANCHORS) - 2)
    f = (x - i)[..., None]
    return (1 - f) * _ANCHORS[i] + f * _ANCHORS[i + 1]


def save_preview(scene: "Scene", cams: Cameras, path: str | Path) -> Path:
    """Render ``cams`` and write rows of [rgb | depth] as one PNG; returns the path."""
    import imageio.v3 as iio

    rgb, depth = scene.render(cams)
    rows = [np.concatenate([rgb[i].cpu().numpy(), depth_to_color(depth[i])], axis=1) for i in range(len(cams))]
    sheet = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255 + 0.5).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, sheet)
    return path
