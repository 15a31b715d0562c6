"""Frames <-> normalised Wan latents.

Frames (F, H, W, 3) in [0, 1] become a video (1, 3, F, H, W) in [-1, 1]; the latent is the posterior MODE
(deterministic), normalised per channel with the VAE config's latents_mean / latents_std as Wan's pipelines do.
"""

from __future__ import annotations

import torch


def _stats(vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean, device=like.device, dtype=torch.float32).view(shape)
    std = torch.tensor(vae.config.latents_std, device=like.device, dtype=torch.float32).view(shape)
    return mean, std


@torch.no_grad()
def encode_frames(vae, frames: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Normalised latents (1, C, T, h, w) float32 of frames (F, H, W, 3) in [0, 1]."""
    dtype = next(vae.parameters()).dtype
    video = frames.to(device=device, dtype=torch.float32).permute(3, 0, 1, 2)[None] * 2 - 1
    z = vae.encode(video.to(dtype)).latent_dist.mode().float()
    mean, std = _stats(vae, z)
    return (z - mean) / std


@torch.no_grad()
def decode_latents(vae, z: torch.Tensor) -> torch.Tensor:
    """Frames (F, H, W, 3) float32 in [0, 1] (on the latents' device) of normalised latents (1, C, T, h, w)."""
    dtype = next(vae.parameters()).dtype
    mean, std = _stats(vae, z)
    video = vae.decode((z.float() * std + mean).to(dtype)).sample.float()
    return ((video[0].permute(1, 2, 3, 0) + 1) / 2).clamp(0, 1)
