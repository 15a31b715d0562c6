"""Voxel keys of world points: what the world map (which frame saw which voxel) and the world export's fusion (one
Gaussian per voxel) both group by."""

from __future__ import annotations

import numpy as np


def voxel_keys(points: np.ndarray, edge: float) -> np.ndarray:
    """One int64 per point (N, 3): its voxel's 3 integer coordinates packed into one number, ordered as the triples
    are, so a 1-D np.unique groups (and orders) the points as np.unique(axis=0) on the triples does, ~6x faster
    (23 -> 3.8 s at 7.5 M points)."""
    cells = np.floor(np.asarray(points, np.float64) / edge).astype(np.int64)
    if not len(cells):
        return np.zeros(0, np.int64)
    cells -= cells.min(0)
    span = cells.max(0) + 1
    if float(span[0]) * float(span[1]) * float(span[2]) >= 2.0 ** 62:
        raise ValueError(f"{span.tolist()} voxels per axis do not fit one 64-bit key (voxel edge {edge})")
    return (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
