"""Fill holes in a rendered depth map so every pixel of a history frame can seed Gaussians.

Holes in a cache render are mostly disocclusions: surfaces that were *behind* something. So a hole
takes its nearest valid depth and is then pushed toward the farther of its neighbours.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fill_depth_holes(depth: np.ndarray, valid: np.ndarray, background_bias_px: int = 5) -> np.ndarray:
    """(H, W) depth with holes (valid == False) filled; returns a copy. All-invalid input is an error."""
    valid = valid & np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise ValueError("depth map has no valid pixel to fill from")
    if valid.all():
        return depth.copy()
    _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    filled = depth[iy, ix]
    if background_bias_px > 1:
        far = ndimage.grey_dilation(filled, size=(background_bias_px, background_bias_px))
        filled = np.where(valid, filled, far)
    return filled.astype(depth.dtype)
