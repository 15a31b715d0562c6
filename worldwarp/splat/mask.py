"""The validity mask M of a warp: 1 where the cache saw the surface, 0 for holes and unreliable pixels."""

from __future__ import annotations

import torch


def depth_spread(depth: torch.Tensor, depth_sq: torch.Tensor) -> torch.Tensor:
    """Std of the per-Gaussian z under the compositing weights: sqrt(E[z^2] - E[z]^2)."""
    return (depth_sq - depth * depth).clamp_min(0.0).sqrt()


def validity_mask(
    alpha: torch.Tensor, depth: torch.Tensor, depth_sq: torch.Tensor, *, alpha_threshold: float = 0.8,
    depth_tolerance: float = 0.2,
) -> torch.Tensor:
    """alpha >= alpha_threshold AND relative depth spread <= depth_tolerance.

    Where a disocclusion opens, a pixel's few remaining Gaussians are the tails of both the foreground
    edge and the background behind it: its colour is a blend of two surfaces and its alpha alone can look
    fine. Their z differ, so the weighted depth spread flags them. depth_tolerance = 0 disables this test
    (alpha only).
    """
    mask = alpha >= alpha_threshold
    if depth_tolerance > 0:
        rel = depth_spread(depth, depth_sq) / depth.clamp_min(1e-6)
        mask &= rel <= depth_tolerance
    return mask
