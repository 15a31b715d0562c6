"""Stage 4, denoise: repair the warped pixels and invent the holes (ST-Diff, or the classical filler).

Chunk k's text prompt comes from ``cfg.prompt``: fixed (``prompt.text``, else ``diffusion.prompt``) without a
captioner; with ``prompt.captioner_dir``, Qwen2.5-VL's caption of the input image for chunk 0 and, when
``prompt.per_chunk``, of chunk k's newest history frame (else chunk 0's prompt again). The prompt used goes into
the stage's attrs (``prompt``), also for the classical filler, which ignores it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from worldwarp.config import DiffusionConfig, WorldWarpConfig
from worldwarp.config.prompt import PromptConfig
from worldwarp.diffusion import FillGeometry, make_denoiser, needs_geometry
from worldwarp.prompts import chunk_prompt, fixed_prompt, load_captioner
from worldwarp.store import StoreError

from .common import once, release, resolve_device, span, to_np
from .inputs import chunk_cameras
from .warp import read_render, read_render_geometry

GROUP = "frames"
LATENTS = "latents"  # the diffusion backends that have latents keep them here


@lru_cache(maxsize=1)
def _denoiser(cfg_json: str, device: str):
    # models are expensive to load: keep the last one for the next chunk of the same run
    return make_denoiser(DiffusionConfig.model_validate_json(cfg_json), device)


@lru_cache(maxsize=1)
def _captioner(prompt_json: str, device: str):
    """The VLM captioner, loaded once per process and reused by every chunk."""
    return load_captioner(PromptConfig.model_validate_json(prompt_json), device)


def resolve_prompt(store, k: int, cfg: WorldWarpConfig) -> str:
    """Chunk k's prompt (see the module docstring); the captioner is loaded only when a caption is needed."""
    p, default = cfg.prompt, cfg.diffusion.prompt
    if not p.captioner_dir:
        return fixed_prompt(p, default)
    previous = None
    if k > 0 and not p.per_chunk:
        previous = store.stage_attrs(0, GROUP).get("prompt")
        if previous:
            return previous
    if k == 0 or not p.per_chunk:
        image = store.read_input()["image"]  # (H, W, 3) in [0, 1]
    else:
        image = store.read_stage(k, "geometry")["rgb"][-1]  # the newest history frame of chunk k
    captioner = _captioner(p.model_dump_json(), str(resolve_device(cfg)))
    prompt = chunk_prompt(p, default, k, torch.from_numpy(np.asarray(image, np.float32)), captioner, previous)
    if cfg.lowvram:  # free the VLM before the text encoder and the transformer need the GPU (reloaded next caption)
        del captioner
        release(_captioner)
    return prompt


def _geometry(store, k: int, cfg: WorldWarpConfig) -> FillGeometry:
    """The warp's depth and opacity and the chunk's commanded cameras (the depth-aware filler's input)."""
    depth, alpha = read_render_geometry(store, k)
    cams = chunk_cameras(store.read_input(), span(cfg, k))
    return FillGeometry(*(torch.from_numpy(np.asarray(x, np.float32)) for x in (depth, cams.K, cams.w2c, alpha)))


def _compute(store, k: int, cfg: WorldWarpConfig, key: str) -> tuple[dict[str, np.ndarray], dict]:
    rgb = read_render(store, k)
    if rgb is None:  # heal re-renders a dropped render before a chunk is denoised again; this is a bug guard
        raise StoreError(f"{store.path}: chunk {k}'s warped render was dropped (store.keep_renders=false); "
                         "run `worldwarp resume` on the store to render it again")
    mask = store.read_array(k, "warp", "mask")
    h = int(store.stage_attrs(k, "warp")["history"])
    prompt = resolve_prompt(store, k, cfg)
    den = _denoiser(cfg.diffusion.model_dump_json(), str(resolve_device(cfg)))
    kw = {"geometry": _geometry(store, k, cfg)} if needs_geometry(den) else {}
    out = den(torch.from_numpy(np.asarray(rgb)), torch.from_numpy(np.asarray(mask).astype(np.float32)),
              h, seed=cfg.seed + k, prompt=prompt, progress=True, **kw)
    if out.latents:
        store.write_stage(k, LATENTS, key, {n: to_np(v).astype(np.float32) for n, v in out.latents.items()}, {})
    frames = np.clip(to_np(out.frames), 0, 1).astype(np.float32)
    info = {n: v for n, v in out.info.items() if isinstance(v, (int, float, str))}
    return {"rgb": frames}, {"denoiser": den.name, **info, "prompt": prompt}


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg, key))
