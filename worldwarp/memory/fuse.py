"""One world from a run's caches (``worldwarp export --world``): every chunk's Gaussians in one cloud, one per
voxel, the earliest chunk's kept (the memory's rule: an early, well-seen observation is not displaced by a later
re-fit), the voxel grown until the cloud fits ``max_count``."""

from __future__ import annotations

import numpy as np
import torch

from ..splat import Gaussians
from .voxels import voxel_keys


def fuse_keep(means: list[np.ndarray], max_extent: list[np.ndarray], voxel: float | None = None,
              max_count: int = 2_000_000) -> list[np.ndarray]:
    """Which Gaussians of each cache (``means`` (N_i, 3), in priority order, earliest first) fusion keeps: sorted
    row indices per cache. Decided from the positions and sizes alone, so a caller reads the other fields only for
    the kept rows (a 1000-frame run's caches are ~20 M Gaussians). ``voxel`` defaults to the median Gaussian's
    largest extent (``max_extent``: per Gaussian, exp of its largest log-scale): one Gaussian per footprint, so
    a surface seen by several chunks is kept once."""
    counts = [len(m) for m in means]
    if voxel is None:
        voxel = float(np.median(np.concatenate(max_extent))) if sum(counts) else 1.0
    pts = np.concatenate(means).astype(np.float64) if sum(counts) else np.zeros((0, 3))
    while True:
        _, first = np.unique(voxel_keys(pts, voxel), return_index=True)  # the first: the earliest chunk's
        if len(first) <= max_count:
            break
        voxel *= 1.25
    first = np.sort(first)
    bounds = np.cumsum([0, *counts])
    return [first[(first >= a) & (first < b)] - a for a, b in zip(bounds[:-1], bounds[1:])]


def fuse(caches: list[Gaussians], voxel: float | None = None, max_count: int = 2_000_000) -> Gaussians:
    """``caches`` in priority order (earliest first), fused by ``fuse_keep``."""
    caches = [c.detach().to("cpu") for c in caches]
    keep = fuse_keep([c.means.numpy() for c in caches], [torch.exp(c.scales).max(1).values.numpy() for c in caches],
                     voxel, max_count)
    return Gaussians.cat([c.select(torch.from_numpy(k)) for c, k in zip(caches, keep)])
