"""Weightless stand-ins for ST-Diff (``diffusion.classical_fill``): ``depth_aware`` fills holes from the farther
surface around them, once per 3D point (``background_fill``); ``pushpull`` is push-pull hole filling with
temporal smoothing of the filled pixels, described below.

Push-pull (Gortler et al. 1996): build an image pyramid of weight-averaged colours from the valid pixels only,
then fill every hole from the coarsest level that sees valid data, blending levels by their saturated weights.
The result is a smooth, seam-free fill that depends only on nearby valid pixels, so it changes as slowly as the
warp does; an exponential average over time of the hole pixels removes the rest of the flicker.
Valid pixels are kept exactly; history frames are returned untouched.
"""

from __future__ import annotations

import time

import torch

from . import DenoiseResult, FillGeometry
from .background_fill import fill_chunk
from .push_pull import push_pull_fill

__all__ = ["DepthAwareFiller", "PushPullFiller", "push_pull_fill"]


class PushPullFiller:
    """Classical hole filler behind the Denoiser interface (no weights, deterministic, CPU-friendly)."""

    name = "pushpull-inpaint"

    def __init__(self, temporal_smoothing: float = 0.5):
        if not 0 <= temporal_smoothing < 1:
            raise ValueError("temporal_smoothing must be in [0, 1)")
        self.beta = temporal_smoothing

    @torch.no_grad()
    def __call__(self, warped: torch.Tensor, mask: torch.Tensor, history: int, *, seed: int = 0,
                 prompt: str | None = None, progress: bool = True) -> DenoiseResult:
        t0 = time.perf_counter()
        img = warped.float().permute(0, 3, 1, 2)
        m = mask.float().clamp(0, 1)[:, None]
        out = push_pull_fill(img, m)
        for t in range(1, out.shape[0]):
            # blend only where the pixel is a hole, with the previous OUTPUT frame (recursive: a slow average)
            out[t] = m[t] * img[t] + (1 - m[t]) * ((1 - self.beta) * out[t] + self.beta * out[t - 1])
        out[:history] = img[:history]
        frames = out.permute(0, 2, 3, 1).clamp(0, 1).contiguous()
        info = {"fill_s": time.perf_counter() - t0, "hole_fraction": float(1 - m[history:].mean()) if history < len(m) else 0.0}
        return DenoiseResult(frames=frames, latents={}, info=info)


class DepthAwareFiller:
    """Depth-aware classical filler behind the Denoiser interface: needs the warp's depth and cameras
    (``geometry``); deterministic, CPU (see ``background_fill``)."""

    name = "depth-aware-inpaint"
    uses_geometry = True

    def __init__(self, rel_tol: float = 0.1):
        self.rel_tol = rel_tol

    @torch.no_grad()
    def __call__(self, warped: torch.Tensor, mask: torch.Tensor, history: int, *, seed: int = 0,
                 prompt: str | None = None, progress: bool = True,
                 geometry: FillGeometry | None = None) -> DenoiseResult:
        if geometry is None:  # no silent fallback to a depth-blind fill
            raise ValueError("the depth-aware filler needs the warp's depth and cameras (geometry=FillGeometry(...))")
        t0 = time.perf_counter()
        valid = mask.detach().cpu().numpy() >= 0.5
        rgb = warped.detach().float().cpu().numpy()
        g = [x.detach().cpu().double().numpy() for x in (geometry.depth, geometry.K, geometry.w2c, geometry.alpha)]
        out = fill_chunk(rgb, valid, *g, history=history, rel_tol=self.rel_tol)
        out[:history] = rgb[:history]
        frames = torch.from_numpy(out).clamp(0, 1).to(warped.device).contiguous()
        new = valid[history:]
        info = {"fill_s": time.perf_counter() - t0, "hole_fraction": float(1 - new.mean()) if new.size else 0.0}
        return DenoiseResult(frames=frames, latents={}, info=info)
