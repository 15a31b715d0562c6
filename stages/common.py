"""What every stage shares: device choice, idempotence, chunk spans."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from worldwarp.chunks import ChunkSpan, chunk_span
from worldwarp.config import WorldWarpConfig
from worldwarp.store import RunStore, StageRef


def resolve_device(cfg: WorldWarpConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but no CUDA device is available")
    return torch.device(cfg.device)


def span(cfg: WorldWarpConfig, k: int) -> ChunkSpan:
    return chunk_span(cfg.chunk, k)


def once(store: RunStore, k: int, group: str, key: str,
         compute: Callable[[], tuple[dict[str, np.ndarray], dict]]) -> StageRef:
    """Return the stored output when its key is complete; otherwise compute, write, mark complete."""
    if store.is_complete(k, group, key):
        return store.stage_ref(k, group)
    t0 = time.perf_counter()
    arrays, attrs = compute()
    attrs = {**attrs, "compute_seconds": round(time.perf_counter() - t0, 4)}
    return store.write_stage(k, group, key, arrays, attrs)


def to_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
