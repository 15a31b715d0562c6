"""What every geometry estimator returns, and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch


@dataclass
class GeometryEstimate:
    """Per-frame geometry of V frames, in the OpenCV convention of ``worldwarp.geometry.cameras``."""

    depth: torch.Tensor  # (V, H, W) z-depth in metres (scene units); 0 where unknown
    K: torch.Tensor  # (V, 3, 3) pixels
    w2c: torch.Tensor  # (V, 4, 4) world-to-camera
    confidence: torch.Tensor  # (V, H, W) in [0, 1]; 0 where depth is unknown
    residuals: dict[str, float] = field(default_factory=dict)  # alignment / fit diagnostics, for logging
    pose_confidence: torch.Tensor | None = None  # (V,) in [0, 1] when poses were estimated, else None

    def __post_init__(self) -> None:
        V, H, W = self.depth.shape
        if self.K.shape != (V, 3, 3) or self.w2c.shape != (V, 4, 4) or self.confidence.shape != (V, H, W):
            raise ValueError(f"GeometryEstimate: inconsistent shapes depth {tuple(self.depth.shape)}, K "
                             f"{tuple(self.K.shape)}, w2c {tuple(self.w2c.shape)}, confidence {tuple(self.confidence.shape)}")


@runtime_checkable
class GeometryEstimator(Protocol):
    """frames (V, H, W, 3) float in [0, 1] -> GeometryEstimate. Known intrinsics / poses are used when given."""

    def estimate(self, frames: torch.Tensor, *, K: torch.Tensor | None = None,
                 w2c: torch.Tensor | None = None) -> GeometryEstimate: ...


def check_frames(frames: torch.Tensor) -> torch.Tensor:
    """(V, H, W, 3) float frames, or a ValueError saying what was given."""
    frames = torch.as_tensor(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (V, H, W, 3) RGB in [0, 1], got shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise ValueError(f"frames must be float in [0, 1], got {frames.dtype}")
    return frames


def identity_poses(n: int) -> torch.Tensor:
    return torch.eye(4).expand(n, 4, 4).clone()
