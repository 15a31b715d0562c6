"""A chunk's per-token noise schedule as one picture: rows = denoising steps, columns = latent frames.

Each tile is the latent frame's token map at that step, coloured by the token's timestep (viridis, 0 dark to 1000
bright): history tokens stay dark, holes follow the global schedule from the top, warped tokens join it later.
"""

from __future__ import annotations

import numpy as np

MAX_T = 1000.0


def schedule_image(t_tok: np.ndarray, min_tile: int = 12, gap: int = 1) -> np.ndarray:
    """(steps + 1, T, h, w) token timesteps -> uint8 RGB picture (rows: steps, columns: latent frames)."""
    from matplotlib import colormaps

    t = np.asarray(t_tok, dtype=np.float32)
    if t.ndim != 4:
        raise ValueError(f"t_tok must be (steps + 1, T, h, w), got shape {t.shape}")
    S, T, h, w = t.shape
    zoom = max(1, int(np.ceil(min_tile / max(1, min(h, w)))))
    tiles = np.clip(t / MAX_T, 0, 1).repeat(zoom, 2).repeat(zoom, 3)
    th, tw = h * zoom, w * zoom
    canvas = np.ones((S * (th + gap) - gap, T * (tw + gap) - gap), np.float32) * np.nan
    for s in range(S):
        for j in range(T):
            canvas[s * (th + gap): s * (th + gap) + th, j * (tw + gap): j * (tw + gap) + tw] = tiles[s, j]
    rgb = colormaps["viridis"](np.nan_to_num(canvas, nan=0.0))[..., :3]
    rgb[np.isnan(canvas)] = 1.0  # white gaps between tiles
    return (rgb * 255 + 0.5).astype(np.uint8)
