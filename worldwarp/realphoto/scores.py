"""Scores of a predicted right view against the real one, on the pixels where each score is defined.

- PSNR on co-visible pixels: ``worldwarp.metrics.image.psnr`` with the co-visibility mask; ``psnr_covisible_warped``
  on those the warp marks valid (the cache's render alone: fillers keep valid pixels).
- SSIM on co-visible pixels: scikit-image's SSIM map (Gaussian window sigma 1.5, 11 taps, population
  covariances: Wang et al., the same numbers as ``worldwarp.metrics.image.ssim``), averaged over the channels and
  over the pixels whose 11 x 11 window is centred on a co-visible pixel, 5 px from the border (the windows a
  whole-image SSIM averages). Windows centred next to a hole still see some of it: an honest upper bound on
  what the co-visible region alone loses.
- PSNR / SSIM on occluded pixels (``psnr_occluded``, ``ssim_occluded``): true occlusions inside the left view's
  field of view, what a filler invents from the surroundings; the strip beyond the left image's border is
  ``psnr_outside_left`` (``occlusion.outside_left_view``). SSIM windows there see their co-visible neighbours too.
- Hole mask: the warp's holes (mask False) against the true occlusions, on decided pixels (co-visible or occluded);
  ``hole_recall_wide`` counts only occluded pixels whose 3 x 3 neighbourhood holds no co-visible pixel (the inside
  of occlusions at least 3 px wide: one- and two-pixel slivers beside thin structures are below what a splat of
  pixel footprint can open).
- Depth: abs rel and delta < 1.25 of the cache's rendered depth on co-visible pixels the warp marks valid.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from ..metrics.image import psnr
from .occlusion import Covisibility, outside_left_view

SSIM_BORDER = 5  # (11 - 1) / 2: the centres a valid 11 x 11 window can have


def ssim_map(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(H, W) SSIM of two (H, W, 3) images in [0, 1], averaged over channels."""
    _, S = structural_similarity(pred, target, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, full=True)
    return S.mean(-1)


def masked_ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    b = SSIM_BORDER
    inner = np.zeros_like(mask, dtype=bool)
    inner[b:-b, b:-b] = True
    keep = mask & inner
    return float(ssim_map(pred, target)[keep].mean()) if keep.any() else float("nan")


def _frac(num: np.ndarray, den: np.ndarray) -> float:
    n = int(den.sum())
    return float((num & den).sum() / n) if n else float("nan")


def _psnr(pred: torch.Tensor, target: torch.Tensor, mask: np.ndarray) -> float:
    return float(psnr(pred, target, torch.from_numpy(mask)[None])) if mask.any() else float("nan")


def depth_errors(pred: np.ndarray, true: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    keep = mask & np.isfinite(true) & (true > 0) & np.isfinite(pred) & (pred > 0)
    if not keep.any():
        return {"depth_abs_rel": float("nan"), "depth_delta1": float("nan")}
    p, t = pred[keep].astype(np.float64), true[keep].astype(np.float64)
    return {"depth_abs_rel": float(np.mean(np.abs(p - t) / t)),
            "depth_delta1": float(np.mean(np.maximum(p / t, t / p) < 1.25))}


def score_right_view(rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, right: np.ndarray,
                     right_depth: np.ndarray, cov: Covisibility) -> dict[str, float]:
    """rgb (H, W, 3) the final right view; depth / valid (H, W) the cache's render and the warp's mask there;
    right / right_depth the real right view and its true depth."""
    pred, target = torch.from_numpy(rgb)[None], torch.from_numpy(right)[None]
    holes = ~valid.astype(bool)
    decided = cov.covisible | cov.occluded
    outside = outside_left_view(cov)
    inside = cov.occluded & ~outside  # true occlusions: what a filler must invent from the surroundings
    wide = cov.occluded & ndimage.binary_erosion(~cov.covisible, np.ones((3, 3)), border_value=1)
    return {
        "psnr_covisible": float(psnr(pred, target, torch.from_numpy(cov.covisible)[None])),
        "ssim_covisible": masked_ssim(rgb, right, cov.covisible),
        # the warp alone: the fillers keep valid pixels exactly
        "psnr_covisible_warped": float(psnr(pred, target, torch.from_numpy(cov.covisible & ~holes)[None])),
        "psnr_occluded": _psnr(pred, target, inside),
        "ssim_occluded": masked_ssim(rgb, right, inside),
        "psnr_outside_left": _psnr(pred, target, outside),
        "occluded_inside_fraction": float(inside.mean()),
        "outside_left_fraction": float(outside.mean()),
        "psnr_all": float(psnr(pred, target)),
        "ssim_all": masked_ssim(rgb, right, np.ones_like(cov.covisible)),
        "hole_recall": _frac(holes, cov.occluded),
        "hole_recall_wide": _frac(holes, wide),
        "hole_precision": _frac(cov.occluded, holes & decided),
        "hole_fraction": float(holes.mean()),
        **depth_errors(depth, right_depth, cov.covisible & valid.astype(bool)),
    }
