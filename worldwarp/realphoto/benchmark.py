"""The real-photo benchmark: the left view and a depth map in, the right view out through the project's own
pieces (3DGS cache of the input frame, warp with the configured validity mask, the configured denoiser), scored
against the real right view (see ``scores``).

The chunk is the pipeline's first: history = the input frame, then ``frames - 1`` new cameras on the way to the
right view (``stereo.stereo_trajectory``); as in the warp stage the history frame replaces its render and counts
as valid. Only the last frame, the right camera, has a ground truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..config import WorldWarpConfig
from ..diffusion import FillGeometry, make_denoiser, needs_geometry
from ..geometry.depth_fill import fill_depth_holes
from ..estimators.align import AlignmentError, align_depth
from ..splat import Sources, build_cache, warp
from .occlusion import Covisibility
from .scores import score_right_view
from .stereo import StereoPair, stereo_trajectory


@dataclass
class RightView:
    rgb: np.ndarray  # (H, W, 3) the denoiser's right view
    warped: np.ndarray  # (H, W, 3) the cache's render there, before filling
    depth: np.ndarray  # (H, W) the cache's rendered depth there
    valid: np.ndarray  # (H, W) bool: the warp's mask
    info: dict


def predict_right_view(pair: StereoPair, depth: np.ndarray, cfg: WorldWarpConfig, *, frames: int = 5,
                       device: str | torch.device = "cpu") -> RightView:
    """``depth`` (H, W) of the left view, finite and positive everywhere (it seeds one Gaussian per pixel)."""
    if not (np.isfinite(depth).all() and (depth > 0).all()):
        raise ValueError("the input depth must be finite and positive on every pixel")
    t0 = time.perf_counter()
    rgb = torch.from_numpy(pair.left)[None].to(device)
    d = torch.from_numpy(depth.astype(np.float32))[None].to(device)
    K, w2c = pair.K("left")[None].to(device), pair.w2c("left")[None].to(device)
    g, losses = build_cache(rgb, d, K, w2c, cfg.splat, backend=cfg.splat.backend, seed=cfg.seed)
    t_cache = time.perf_counter()
    cams = stereo_trajectory(pair, frames).to(device)
    out = warp(g, cams, cfg.splat, Sources(d, K, w2c), backend=cfg.splat.backend, budget=cfg.render_budget)
    warped, mask, zs, alpha = out.rgb.clone(), out.mask.clone(), out.depth.clone(), out.alpha.clone()
    # the history frame is known exactly (as the warp stage does)
    warped[0], mask[0], zs[0], alpha[0] = rgb[0], True, d[0], 1.0
    den = make_denoiser(cfg.diffusion, device)
    kw = {"geometry": FillGeometry(zs, cams.K, cams.w2c, alpha)} if needs_geometry(den) else {}
    res = den(warped, mask.float(), 1, seed=cfg.seed, prompt=cfg.diffusion.prompt, progress=False, **kw)
    t_end = time.perf_counter()
    info = {"gaussians": len(g), "final_loss": float(losses[-1]) if losses else float("nan"),
            "denoiser": den.name, "cache_s": t_cache - t0, "warp_fill_s": t_end - t_cache}
    return RightView(res.frames[-1].cpu().numpy(), warped[-1].cpu().numpy(), out.depth[-1].cpu().numpy(),
                     mask[-1].cpu().numpy(), info)


def aligned_model_depth(estimator, pair: StereoPair, measured: np.ndarray, cfg: WorldWarpConfig) -> tuple[np.ndarray, dict]:
    """A depth model's depth of the left view, aligned to the measured depth on its valid pixels with the
    estimator section's mode and space (auto: as the geometry stage resolves them). A failed fit keeps the
    model's own depth, as the geometry stage does, and says so."""
    frames = torch.from_numpy(pair.left)[None].to(estimator.device)
    pred = estimator.predict(frames, K=pair.K("left")[None])
    own = estimator.to_depth(pred)[0].float().cpu()
    e = cfg.estimator
    mode = e.align if e.align != "auto" else ("scale" if pred.metric else "scale_shift")
    space = e.align_space if e.align_space != "auto" else pred.space
    values = pred.values[0].float().cpu() if space == pred.space else (1.0 / own if space == "inverse" else own)
    ref = torch.from_numpy(np.nan_to_num(measured, nan=0.0))
    info = {"align_mode": mode, "align_space": space, "metric": bool(pred.metric)}
    try:
        a = align_depth(values, ref, torch.from_numpy(np.isfinite(measured)), mode=mode, space=space)
    except AlignmentError as err:
        return own.numpy(), {**info, "aligned": False, "align_error": str(err)}
    return a.aligned.float().numpy(), {**info, "aligned": True, "align_scale": a.scale, "align_shift": a.shift,
                                       "align_residual": a.residual}


def evaluate(pair: StereoPair, cov: Covisibility, depth: np.ndarray, cfg: WorldWarpConfig, *, frames: int = 5,
             device: str | torch.device = "cpu") -> tuple[dict, RightView]:
    """predict_right_view + score_right_view against the pair's right view."""
    view = predict_right_view(pair, depth, cfg, frames=frames, device=device)
    right_depth = pair.depth(cov.disparity_right)
    scores = score_right_view(view.rgb, view.depth, view.valid, pair.right, right_depth, cov)
    return {**scores, **view.info}, view


def measured_input_depth(pair: StereoPair) -> np.ndarray:
    """The left view's depth from its disparity; unmeasured pixels filled toward the background (as the geometry
    stage fills a render's holes), since every input pixel seeds a Gaussian."""
    z = pair.depth()
    return fill_depth_holes(np.nan_to_num(z, nan=0.0), np.isfinite(z))
