"""The authors' ST-Diff sampler (``diffusion.sampler=official``), rebuilt from the facts of their public inference.

Facts (GitHub qbhan/WorldWarp at 0396b80, ``pose_control.py``), reproduced here with our own code:
  - the global schedule is diffusers' ``FlowMatchEulerDiscreteScheduler(shift=5)`` after ``set_timesteps(S)``:
    S timesteps t_0 = 1000 > ... and S + 1 sigmas ending in 0 (t = 1000 * sigma);
  - strength tau: warped latents start at step m0 = int((1 - tau) * S) (0.8 -> step 10 of 50, sigma ~ 0.95) and are
    held there until the schedule reaches them; holes start at step 0 (sigma = 1); the first (ctx - 1) // 4 + 1 latent
    frames (ctx history frames) stay at t = 0 and are re-written with the encoded history after every step;
  - the validity mask is the per-frame pixel mask (thresholded and eroded by the warp stage), taken at every 4th frame
    (one per latent frame) and downsampled 1/8 by nearest neighbour (the top-left pixel of each 8 x 8 block);
  - every LATENT has its own level; the model is told one timestep per token: that of the token's top-left latent;
  - an Euler step x + (sigma_next - sigma_cur) * v, with the sigmas looked up in the model's dtype (bf16 in their
    inference), and latents whose level does not change are left exactly as they are; CFG with guidance 5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import step_cache
from .cfg_split import UncondReplica, loop_context
from .latent_grid import VAE_SPACE, VAE_TIME, history_latent_frames
from .sampler import _steps, model_outputs
from .time_table import time_table

NUM_TRAIN_TIMESTEPS = 1000


def official_schedule(steps: int, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(timesteps (S,), sigmas (S + 1,)) exactly as diffusers' FlowMatchEulerDiscreteScheduler builds them."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, shift=shift)
    sched.set_timesteps(steps)
    return sched.timesteps.float().cpu(), sched.sigmas.float().cpu()


def warped_start_step(steps: int, strength: float) -> int:
    """m0 = int((1 - strength) * S), capped at S - 1.

    (1 - 0.8) is 0.19999999999999996 in floating point; the authors configure 0.2 directly, so round first or
    0.8 would start one step early.
    """
    return min(int(round(1.0 - strength, 9) * steps), steps - 1)


def official_latent_mask(mask: torch.Tensor, time_ratio: int = VAE_TIME, space_ratio: int = VAE_SPACE) -> torch.Tensor:
    """Per-latent validity (T, H / 8, W / 8) bool from the per-frame binary pixel mask (F, H, W)."""
    frames = mask[::time_ratio].float()[:, None]
    small = F.interpolate(frames, scale_factor=1.0 / space_ratio, mode="nearest")[:, 0]
    return small >= 0.5


def level_matrix(valid: torch.Tensor, history: int, timesteps: torch.Tensor, strength: float) -> torch.Tensor:
    """Every latent's timestep at every step: (S + 1, T, h, w), the last row all 0.

    Holes follow the global schedule, warped latents are held at the start step's timestep until the schedule comes
    down to it, history latent frames stay at 0.
    """
    steps = len(timesteps)
    m0 = warped_start_step(steps, strength)
    base = timesteps.view(-1, 1, 1, 1).expand(steps, *valid.shape)
    held = base.clone()
    held[:m0] = timesteps[m0]
    sched = torch.where(valid.bool()[None], held, base)
    ctx = history_latent_frames(history)
    sched[:, :ctx] = 0.0
    return torch.cat([sched, torch.zeros_like(sched[:1])])


def sigma_lookup(levels: torch.Tensor, timesteps: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """The sigma of each timestep value (exact match against the schedule's timesteps, then 0)."""
    table_t = torch.cat([timesteps, timesteps.new_zeros(1)]).to(levels)
    values, inverse = torch.unique(levels, return_inverse=True)  # a few dozen values: keeps the match table small
    idx = (values[:, None] == table_t[None]).int().argmax(1)
    return sigmas.to(levels.device)[idx][inverse]


def token_timesteps(level: torch.Tensor) -> torch.Tensor:
    """Each (1, 2, 2) token's timestep: its top-left latent's (T, h / 2, w / 2)."""
    return level[:, ::2, ::2]


def official_start(z_warp: torch.Tensor, noise: torch.Tensor, levels: torch.Tensor, sigma_start: torch.Tensor,
                   history: int) -> torch.Tensor:
    """x = (1 - s) * z_warp + s * eps per latent (s from its step-0 level); history latent frames = z_warp."""
    s = sigma_start[None, None]  # (1, 1, T, h, w) over (1, C, T, h, w)
    z = (1 - s) * z_warp + s * noise
    ctx = history_latent_frames(history)
    z[:, :, :ctx] = z_warp[:, :, :ctx]
    return z


def _guided_velocity(transformer, x: torch.Tensor, t_tok: torch.Tensor, ctx: torch.Tensor,
                     guidance: float | None, skips: step_cache.SkipCounter | None = None,
                     replica: UncondReplica | None = None) -> torch.Tensor:
    """Combined in the model's output dtype, then float (as theirs)."""
    cond, uncond = model_outputs(transformer, x.to(ctx.dtype), t_tok, ctx, guidance is not None, skips, replica)
    if uncond is None:
        return cond.float()
    return (uncond + guidance * (cond - uncond)).float()


@torch.no_grad()
def official_loop(transformer, z: torch.Tensor, levels: torch.Tensor, timesteps: torch.Tensor, sigmas: torch.Tensor,
                  cond: torch.Tensor, uncond: torch.Tensor | None, guidance_scale: float,
                  progress: bool = False, use_time_table: bool = True,
                  info: dict | None = None, replica: UncondReplica | None = None) -> tuple[torch.Tensor, int]:
    """Run the S steps of ``levels`` (S + 1, T, h, w) from the start ``z`` (1, C, T, h, w); returns (z, forwards).
    ``info`` (optional) receives ``cached_forwards``: forwards that reused the step cache's blocks."""
    device, dtype = z.device, cond.dtype
    levels = levels.to(device)
    sig = sigma_lookup(levels, timesteps.to(device), sigmas.to(device)).to(dtype)  # sigmas in the model's dtype
    use_cfg = uncond is not None and guidance_scale > 1.0
    ctx = torch.cat([cond, uncond]) if use_cfg else cond
    forwards = 0
    step_cache.reset(transformer)
    skips = step_cache.SkipCounter(transformer)
    # every step's token timesteps as rows of one matrix: each step's is a view of it, which the time table serves
    t_steps = token_timesteps(levels[:-1].flatten(0, 1)).reshape(len(levels) - 1, -1)
    split = replica if use_cfg else None
    with time_table(transformer, t_steps, enabled=use_time_table), \
            loop_context(split, uncond, t_steps, use_time_table):
        for m in _steps(len(levels) - 1, progress, "ST-Diff (official)"):
            moving = levels[m] != levels[m + 1]
            if not bool(moving.any()):
                continue  # their step would leave every latent as it is
            v = _guided_velocity(transformer, z, t_steps[m], ctx, guidance_scale if use_cfg else None, skips, split)
            step = (sig[m + 1] - sig[m])[None, None]
            z = torch.where(moving[None, None], z + step * v, z)
            forwards += 1
    if info is not None:
        info["cached_forwards"] = skips.reused
    return z, forwards

