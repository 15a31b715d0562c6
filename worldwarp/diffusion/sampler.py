"""The ST-Diff denoising loop: per-token Euler flow matching with optional batched classifier-free guidance.

The model is diffusers' WanTransformer3DModel, called with a 2-D timestep (batch, tokens): one timestep per
token after its (1, 2, 2) patchify, the hook Wan2.2 TI2V uses. See ``schedule`` for the levels and the update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from . import step_cache
from .cfg_split import UncondReplica, loop_context
from .latent_grid import tokens_to_latents
from .schedule import NUM_TRAIN_TIMESTEPS, active_steps, euler_deltas, guided_steps, token_levels
from .time_table import time_table


@dataclass
class LoopStats:
    forwards: int = 0
    guided_forwards: int = 0
    skipped_steps: int = 0
    cached_forwards: int = 0  # forwards that reused the step cache's blocks (diffusion.step_cache)
    seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)


def noisy_start(z_warp: torch.Tensor, sigma0_tok: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = (1 - Sigma) * z_warp + Sigma * eps, Sigma being each token's start level copied to its latents."""
    s = tokens_to_latents(sigma0_tok).to(z_warp)[None, None]
    return (1 - s) * z_warp + s * noise


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_outputs(transformer, x: torch.Tensor, t_tok: torch.Tensor, ctx: torch.Tensor, guided: bool,
                  skips: step_cache.SkipCounter | None = None,
                  replica: UncondReplica | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The model's (cond, uncond) outputs for latents ``x`` (model dtype) at step timesteps ``t_tok``, in the model's
    dtype; uncond is None on an unguided step. Guided, both halves share one batched forward, or run side by side
    on two devices (``replica``, diffusion.cfg_device). Both samplers combine them in their own precision."""
    if guided and replica is not None:
        uncond = replica.launch(x, t_tok)  # queued first: the replica's device computes while the cond half launches
        out = transformer(hidden_states=x, timestep=t_tok.reshape(1, -1), encoder_hidden_states=ctx[:1],
                          return_dict=False)[0]
        return out, uncond.to(out.device)
    batch = 2 if guided else 1
    if guided:
        x = torch.cat([x, x])
    timestep = t_tok.reshape(1, -1).expand(batch, -1)
    with step_cache.context(transformer, batch):
        out = transformer(hidden_states=x, timestep=timestep, encoder_hidden_states=ctx[:batch], return_dict=False)[0]
        if skips is not None:
            skips.after_forward()
    return tuple(out.chunk(2)) if guided else (out, None)


def _velocity(transformer, z: torch.Tensor, t_tok: torch.Tensor, ctx: torch.Tensor, guidance: float | None,
              dtype: torch.dtype, skips: step_cache.SkipCounter | None = None,
              replica: UncondReplica | None = None) -> torch.Tensor:
    """Model velocity for one step, combined in float32."""
    cond, uncond = model_outputs(transformer, z.to(dtype), t_tok, ctx, guidance is not None, skips, replica)
    if uncond is None:
        return cond.float()
    cond, uncond = cond.float(), uncond.float()
    return uncond + guidance * (cond - uncond)


@torch.no_grad()
def denoise_loop(transformer, z: torch.Tensor, sigma0_tok: torch.Tensor, sigmas: torch.Tensor,
                 cond: torch.Tensor, uncond: torch.Tensor | None, guidance_scale: float,
                 guidance_interval: tuple[float, float] = (0.0, 1.0), progress: bool = False,
                 time_steps: bool = False, use_time_table: bool = True,
                 replica: UncondReplica | None = None) -> tuple[torch.Tensor, LoopStats]:
    """Run every step of ``sigmas`` from the noisy start ``z`` (1, C, T, h, w); returns the clean latents.

    ``sigma0_tok`` (T, h/2, w/2) holds each token's start level; ``cond``/``uncond`` are (1, L, D) prompt
    embeddings. CFG is used when guidance_scale > 1 and an uncond embedding is given, on the steps whose global
    level lies in ``guidance_interval``; steps that move no token are skipped (no model call). With
    ``use_time_table`` the time embedding is computed once per distinct level (``time_table``). With ``replica``
    the unconditional half of each guided step runs on the replica's device (``cfg_split``).
    """
    device, dtype = z.device, cond.dtype
    levels = token_levels(sigma0_tok.to(device, torch.float64).flatten(), sigmas.to(device))  # (N+1, L)
    deltas = euler_deltas(levels).float().view(-1, *sigma0_tok.shape)  # (N, T, h/2, w/2)
    t_all = (levels[:-1] * NUM_TRAIN_TIMESTEPS).float()  # the model's per-token timesteps, step by step
    use_cfg = uncond is not None and guidance_scale > 1.0
    ctx = torch.cat([cond, uncond]) if use_cfg else cond
    guided = guided_steps(sigmas, guidance_interval) if use_cfg else [False] * (len(sigmas) - 1)
    active = active_steps(levels)
    stats, t0 = LoopStats(), time.perf_counter()
    step_cache.reset(transformer)
    skips = step_cache.SkipCounter(transformer)
    split = replica if use_cfg else None
    with time_table(transformer, t_all, enabled=use_time_table), \
            loop_context(split, uncond, t_all, use_time_table):
        for i in _steps(len(active), progress):
            if not active[i]:
                stats.skipped_steps += 1
                continue
            ts = time.perf_counter()
            v = _velocity(transformer, z, t_all[i], ctx, guidance_scale if guided[i] else None, dtype, skips, split)
            z = z + tokens_to_latents(deltas[i])[None, None] * v
            stats.forwards += 1
            stats.guided_forwards += int(guided[i])
            if time_steps:  # only for benchmarks: the sync costs a little
                sync(device)
                stats.step_seconds.append(time.perf_counter() - ts)
    sync(device)
    stats.seconds = time.perf_counter() - t0
    stats.cached_forwards = skips.reused
    return z, stats


def _steps(n: int, progress: bool, desc: str = "ST-Diff"):
    if not progress:
        return range(n)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return range(n)
    return tqdm(range(n), desc=desc, leave=False)
