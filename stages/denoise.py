"""Stage 4, denoise: repair the warped pixels and invent the holes (ST-Diff, or the classical filler)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from worldwarp.config import DiffusionConfig, WorldWarpConfig
from worldwarp.diffusion import make_denoiser

from .common import once, resolve_device, to_np

GROUP = "frames"


@lru_cache(maxsize=1)
def _denoiser(cfg_json: str, device: str):
    # models are expensive to load: keep the last one for the next chunk of the same run
    return make_denoiser(DiffusionConfig.model_validate_json(cfg_json), device)


def _compute(store, k: int, cfg: WorldWarpConfig, key: str) -> tuple[dict[str, np.ndarray], dict]:
    warp = store.read_stage(k, "warp")
    h = int(store.stage_attrs(k, "warp")["history"])
    den = _denoiser(cfg.diffusion.model_dump_json(), str(resolve_device(cfg)))
    out = den(torch.from_numpy(np.asarray(warp["rgb"])), torch.from_numpy(np.asarray(warp["mask"]).astype(np.float32)),
              h, seed=cfg.seed + k, prompt=cfg.diffusion.prompt, progress=True)
    if out.latents:
        store.write_stage(k, "latents", key, {n: to_np(v).astype(np.float32) for n, v in out.latents.items()}, {})
    frames = np.clip(to_np(out.frames), 0, 1).astype(np.float32)
    return {"rgb": frames}, {"denoiser": den.name, **{n: v for n, v in out.info.items() if isinstance(v, (int, float, str))}}


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg, key))
