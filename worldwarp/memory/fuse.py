"""One world from a run's caches (``worldwarp export --world``): every chunk's Gaussians in one cloud, one per
voxel, the earliest chunk's kept (the memory's rule: an early, well-seen observation is not displaced by a later
re-fit), the voxel grown until the cloud fits ``max_count``."""

from __future__ import annotations

import numpy as np
import torch

from ..splat import Gaussians


def fuse(caches: list[Gaussians], voxel: float | None = None, max_count: int = 2_000_000) -> Gaussians:
    """``caches`` in priority order (earliest first). ``voxel`` defaults to the median Gaussian's largest extent
    (one Gaussian per footprint: a surface seen by several chunks is kept once)."""
    g = Gaussians.cat([c.detach().to("cpu") for c in caches])
    if voxel is None:
        voxel = float(torch.exp(g.scales).max(1).values.median()) if len(g) else 1.0
    means = g.means.double().numpy()
    while True:
        _, first = np.unique(_voxel_keys(means, voxel), return_index=True)  # the first: the earliest chunk's
        if len(first) <= max_count:
            break
        voxel *= 1.25
    keep = torch.from_numpy(np.sort(first))
    return Gaussians(g.means[keep], g.quats[keep], g.scales[keep], g.opacities[keep], g.sh[keep])


def _voxel_keys(means: np.ndarray, voxel: float) -> np.ndarray:
    """One int64 per voxel of ``means`` (N, 3): the 3 integer coordinates packed into one number, so a 1-D
    np.unique does what np.unique(axis=0) does on the triples, ~6x faster (23 -> 3.8 s at 7.5 M Gaussians)."""
    cells = np.floor(means / voxel).astype(np.int64)
    if not len(cells):
        return np.zeros(0, np.int64)
    cells -= cells.min(0)
    span = cells.max(0) + 1
    if float(span[0]) * float(span[1]) * float(span[2]) >= 2.0 ** 62:
        raise ValueError(f"world export: {span.tolist()} voxels per axis do not fit one 64-bit key (voxel {voxel})")
    return (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
