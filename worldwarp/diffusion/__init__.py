"""The denoiser of a chunk: ST-Diff on the Wan2.1 backbone, or a weightless classical hole filler.

Both take the chunk's warped frames (F, H, W, 3) in [0, 1], the validity mask (F, H, W) (1 = warped pixel,
0 = hole) and the number of clean history frames at its start, and return the chunk's frames. diffusers and
transformers are imported only when the ST-Diff backend is built. A denoiser with ``uses_geometry`` (the
depth-aware classical filler) is also given ``geometry=FillGeometry(...)``: the warp's depth and opacity and the
chunk's cameras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from worldwarp.config import DiffusionConfig


@dataclass
class DenoiseResult:
    frames: torch.Tensor  # (F, H, W, 3) float32 in [0, 1]
    latents: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. z_warp, z_out; empty for the classical filler
    info: dict = field(default_factory=dict)  # timings and counters


@dataclass
class FillGeometry:
    """Where the warped pixels lie: what a depth-aware filler needs beside the frames (``uses_geometry``)."""

    depth: torch.Tensor  # (F, H, W) the warp's z-depth (meaningful where the mask is 1)
    K: torch.Tensor  # (F, 3, 3)
    w2c: torch.Tensor  # (F, 4, 4)
    alpha: torch.Tensor  # (F, H, W) the warp's opacity: where it is > 0 in a hole, the render there is partial data


class Denoiser(Protocol):
    name: str

    def __call__(self, warped: torch.Tensor, mask: torch.Tensor, history: int, *, seed: int,
                 prompt: str | None = None, progress: bool = True) -> DenoiseResult:
        """Frames [0, history) of ``warped`` are clean history; they come out (nearly) unchanged."""
        ...


def make_denoiser(cfg: DiffusionConfig, device: str | torch.device = "cpu") -> Denoiser:
    """The configured backend: "classical" (no weights) or "stdiff" (loads the local Wan directory now)."""
    if cfg.backend == "classical":
        from .classical import DepthAwareFiller, PushPullFiller

        if cfg.classical_fill == "depth_aware":
            return DepthAwareFiller(temporal_smoothing=cfg.temporal_smoothing)
        return PushPullFiller(temporal_smoothing=cfg.temporal_smoothing)
    if cfg.backend == "stdiff":
        from .settings import StDiffSettings
        from .stdiff import StDiffDenoiser

        return StDiffDenoiser(StDiffSettings.from_config(cfg), device)
    raise ValueError(f"unknown diffusion backend {cfg.backend!r}")


def needs_geometry(den: Denoiser) -> bool:
    """Whether ``den`` must be called with ``geometry=FillGeometry(...)`` (the depth-aware classical filler)."""
    return bool(getattr(den, "uses_geometry", False))


__all__ = ["DenoiseResult", "Denoiser", "FillGeometry", "make_denoiser", "needs_geometry"]
