"""Weightless stand-ins for ST-Diff (``diffusion.classical_fill``): ``depth_aware`` fills holes with what the history
frames saw there, else from the farther surface around them, once per 3D point (``background_fill``); ``pushpull`` is push-pull hole filling, described
below. Both then smooth the filled pixels over time (``smooth_holes``, ``diffusion.temporal_smoothing``).

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

__all__ = ["DepthAwareFiller", "PushPullFiller", "push_pull_fill", "smooth_holes"]


def _check_beta(beta: float) -> float:
    if not 0 <= beta < 1:
        raise ValueError("temporal_smoothing must be in [0, 1)")
    return beta


def smooth_holes(out: torch.Tensor, img: torch.Tensor, m: torch.Tensor, beta: float, start: int) -> None:
    """In place, frames [start, F) of ``out``: each hole pixel (``m`` 0) becomes (1 - beta) * itself + beta * the
    previous OUTPUT frame's pixel (recursive: an exponential average over time); valid pixels (``m`` 1) become
    ``img``'s. ``m`` broadcasts against a frame of ``out``.

    Why, for both fillers: a fill is a guess, and each frame guesses again from a slightly different
    neighbourhood; averaging the guesses removes flicker the scene does not have and, measured, lowers the
    error too (docs/BENCHMARKS.md §14). Not motion-compensated: at large steps between frames (the real-photo
    chunk's 4 stereo steps) it blends in a neighbour's colour (-0.6 dB there at 0.5)."""
    for t in range(start, out.shape[0]):
        out[t] = m[t] * img[t] + (1 - m[t]) * ((1 - beta) * out[t] + beta * out[t - 1])


class PushPullFiller:
    """Classical hole filler behind the Denoiser interface (no weights, deterministic, CPU-friendly)."""

    name = "pushpull-inpaint"

    def __init__(self, temporal_smoothing: float = 0.5):
        self.beta = _check_beta(temporal_smoothing)

    @torch.no_grad()
    def __call__(self, warped: torch.Tensor, mask: torch.Tensor, history: int, *, seed: int = 0,
                 prompt: str | None = None, progress: bool = True) -> DenoiseResult:
        t0 = time.perf_counter()
        img = warped.float().permute(0, 3, 1, 2)
        m = mask.float().clamp(0, 1)[:, None]
        out = push_pull_fill(img, m)
        smooth_holes(out, img, m, self.beta, 1)
        out[:history] = img[:history]
        frames = out.permute(0, 2, 3, 1).clamp(0, 1).contiguous()
        info = {"fill_s": time.perf_counter() - t0, "hole_fraction": float(1 - m[history:].mean()) if history < len(m) else 0.0}
        return DenoiseResult(frames=frames, latents={}, info=info)


class DepthAwareFiller:
    """Depth-aware classical filler behind the Denoiser interface: needs the warp's depth and cameras
    (``geometry``); deterministic, CPU (see ``background_fill``)."""

    name = "depth-aware-inpaint"
    uses_geometry = True

    def __init__(self, rel_tol: float = 0.1, temporal_smoothing: float = 0.5):
        self.rel_tol = rel_tol
        self.beta = _check_beta(temporal_smoothing)

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
        # one colour per filled 3D point still leaves flicker: the render's partial pixels (composited over the
        # fill) are re-rendered every frame, and pixels each frame newly opens are filled in 2D from a new
        # neighbourhood (docs/BENCHMARKS.md §14); smoothing from the first new frame on, its predecessor being the
        # last history frame
        res = torch.from_numpy(out)
        if history > 0:
            smooth_holes(res, torch.from_numpy(rgb), torch.from_numpy(valid[..., None]).float(), self.beta, history)
        frames = res.clamp(0, 1).to(warped.device).contiguous()
        new = valid[history:]
        info = {"fill_s": time.perf_counter() - t0, "hole_fraction": float(1 - new.mean()) if new.size else 0.0}
        return DenoiseResult(frames=frames, latents={}, info=info)
