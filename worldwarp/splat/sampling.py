"""Point-cloud helpers of the authors' seeding recipe: a random per-frame pixel budget, a voxel-grid cap on
the whole cloud, and nearest-neighbour initial scales (their unproject_depth_to_points, downsample_with_open3d
and simple-knn's distCUDA2, re-done with torch and scipy)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree


def random_subset(mask: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``mask`` with all but ``k`` random True entries cleared (uniform, without replacement); k <= 0 keeps all.
    The draw happens on the CPU generator so the subset is the same on any device."""
    idx = mask.flatten().nonzero().squeeze(1)
    if k <= 0 or idx.numel() <= k:
        return mask
    keep = idx[torch.randperm(idx.numel(), generator=generator)[:k].to(idx.device)]
    out = torch.zeros(mask.numel(), dtype=torch.bool, device=mask.device)
    out[keep] = True
    return out.view_as(mask)


def voxel_average(points: torch.Tensor, feats: torch.Tensor, voxel: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Open3D's voxel_down_sample: one point per occupied voxel, the mean of its points and of their features.
    Voxels start half a voxel below the cloud's minimum corner, as Open3D places them."""
    origin = points.min(0).values - 0.5 * voxel
    ijk = torch.floor((points - origin) / voxel).long()
    _, inv = torch.unique(ijk, dim=0, return_inverse=True)
    n = int(inv.max()) + 1
    both = torch.cat([points, feats], 1)
    sums = torch.zeros(n, both.shape[1], dtype=both.dtype, device=both.device).index_add_(0, inv, both)
    counts = torch.bincount(inv, minlength=n).to(both.dtype).unsqueeze(1)
    mean = sums / counts
    return mean[:, :3], mean[:, 3:]


def cap_points(points: torch.Tensor, feats: torch.Tensor, cap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``cap`` points: the authors' schedule (voxel = 1/100 of the smallest bounding-box side, grown
    1.1x per try). They give up after 20 tries (the cap can then be missed); here it grows until it holds."""
    if cap <= 0 or len(points) <= cap:
        return points, feats
    extent = points.max(0).values - points.min(0).values
    voxel = max(float(extent.min()) / 100.0, 1e-6)
    while True:
        p, f = voxel_average(points, feats, voxel)
        if len(p) <= cap:
            return p, f
        voxel *= 1.1


def knn_mean_sq_dist(points: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Mean squared distance of each point to its ``k`` nearest other points (simple-knn's distCUDA2 with
    k = 3; theirs is an approximate search, this one exact). Runs on the CPU with a k-d tree."""
    xyz = points.detach().double().cpu().numpy()
    if len(xyz) <= 1:
        return torch.ones(len(xyz), dtype=points.dtype, device=points.device)
    kk = min(k, len(xyz) - 1)
    d, _ = cKDTree(xyz).query(xyz, k=kk + 1, workers=-1)
    d2 = np.square(np.asarray(d).reshape(len(xyz), -1)[:, 1:]).mean(1)  # column 0 is the point itself
    return torch.from_numpy(d2).to(points.device, points.dtype)
