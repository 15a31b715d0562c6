"""One world from a run's caches (``worldwarp export --world``): every chunk's Gaussians in one cloud, one per
voxel, the earliest chunk's kept (the memory's rule: an early, well-seen observation is not displaced by a later
re-fit), the voxel grown until the cloud fits ``max_count``."""

from __future__ import annotations

import numpy as np
import torch

from ..splat import Gaussians
from .voxels import voxel_keys


def fuse(caches: list[Gaussians], voxel: float | None = None, max_count: int = 2_000_000) -> Gaussians:
    """``caches`` in priority order (earliest first). ``voxel`` defaults to the median Gaussian's largest extent
    (one Gaussian per footprint: a surface seen by several chunks is kept once)."""
    g = Gaussians.cat([c.detach().to("cpu") for c in caches])
    if voxel is None:
        voxel = float(torch.exp(g.scales).max(1).values.median()) if len(g) else 1.0
    means = g.means.double().numpy()
    while True:
        _, first = np.unique(voxel_keys(means, voxel), return_index=True)  # the first: the earliest chunk's
        if len(first) <= max_count:
            break
        voxel *= 1.25
    keep = torch.from_numpy(np.sort(first))
    return Gaussians(g.means[keep], g.quats[keep], g.scales[keep], g.opacities[keep], g.sh[keep])

