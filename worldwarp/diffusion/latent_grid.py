"""How pixel-space masks map onto the Wan latent grid and the transformer's token grid.

The Wan VAE is causal in time and compresses it 4x: latent frame 0 encodes pixel frame 0 alone, latent frame
j >= 1 encodes pixel frames 4j-3 .. 4j (49 frames -> 13 latents). Space is compressed 8x, and the transformer
patchifies latents (1, 2, 2), so one token covers a 16 x 16 pixel block over the latent frame's 1 or 4 frames.

Pooling of the validity mask M (1 = warped pixel, 0 = hole) to one value per TOKEN:
  - "min"  (default): a token is valid only if every pixel of its block, in every frame of its group, is valid;
           a token touching any hole starts as a hole. Conservative: a partially covered token's latent mixes
           in whatever the renderer wrote into the hole, so it must not be trusted.
  - "mean": the fraction of valid pixels; its start level blends sigma_start and sigma_filled.
Noise levels are decided per token and copied to the token's 2 x 2 latents, so the level the model is told
(its per-token timestep) is exactly the level its latents are noised to.

History: a latent frame is history iff ALL of its pixel frames are history frames, so h history frames give
1 + (h - 1) // 4 history latent frames (h = 5 -> 2). A latent frame that mixes history and new frames is not
held clean; its history frames count as valid pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

VAE_TIME = 4
VAE_SPACE = 8
PATCH = (1, 2, 2)


def latent_frame_count(num_frames: int, time_ratio: int = VAE_TIME) -> int:
    if num_frames < 1 or (num_frames - 1) % time_ratio:
        raise ValueError(f"the Wan VAE needs 1 + {time_ratio}n frames, got {num_frames}")
    return 1 + (num_frames - 1) // time_ratio


def frame_groups(num_frames: int, time_ratio: int = VAE_TIME) -> list[tuple[int, int]]:
    """Pixel-frame range [start, end) of each latent frame."""
    n = latent_frame_count(num_frames, time_ratio)
    return [(0, 1)] + [(1 + time_ratio * (j - 1), 1 + time_ratio * j) for j in range(1, n)]


def history_latent_frames(history: int, time_ratio: int = VAE_TIME) -> int:
    return 0 if history <= 0 else 1 + (history - 1) // time_ratio


def token_block(space_ratio: int = VAE_SPACE, patch: tuple[int, int, int] = PATCH) -> tuple[int, int]:
    """Pixels (rows, cols) covered by one token."""
    return space_ratio * patch[1], space_ratio * patch[2]


def pool_mask_to_tokens(mask: torch.Tensor, mode: str = "min", time_ratio: int = VAE_TIME,
                        space_ratio: int = VAE_SPACE, patch: tuple[int, int, int] = PATCH) -> torch.Tensor:
    """Token validity (T, H / 16, W / 16) in [0, 1] from a pixel mask (F, H, W); see the module doc."""
    if patch[0] != 1:
        raise ValueError("only a temporal patch of 1 is supported")
    bh, bw = token_block(space_ratio, patch)
    n, H, W = mask.shape
    if H % bh or W % bw:
        raise ValueError(f"mask {H}x{W} is not a multiple of the {bh}x{bw} token block; pad it first")
    m = mask.float().clamp(0, 1)
    if mode == "min":
        per_group = [m[a:b].amin(0) for a, b in frame_groups(n, time_ratio)]
        return -F.max_pool2d(-torch.stack(per_group)[:, None], (bh, bw))[:, 0]
    if mode == "mean":
        per_group = [m[a:b].mean(0) for a, b in frame_groups(n, time_ratio)]
        return F.avg_pool2d(torch.stack(per_group)[:, None], (bh, bw))[:, 0]
    raise ValueError(f"unknown mask pooling {mode!r} (min or mean)")


def tokens_to_latents(x: torch.Tensor, patch: tuple[int, int, int] = PATCH) -> torch.Tensor:
    """Copy per-token values (..., T, h, w) to every latent of the token (..., T, h*ph, w*pw)."""
    return x.repeat_interleave(patch[1], dim=-2).repeat_interleave(patch[2], dim=-1)


def pad_to_blocks(x: torch.Tensor, block: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad (..., H, W) on the bottom/right to multiples of ``block``; returns the pads (rows, cols)."""
    H, W = x.shape[-2:]
    ph, pw = (-H) % block[0], (-W) % block[1]
    if not (ph or pw):
        return x, (0, 0)
    lead = x.shape[:-2]
    y = F.pad(x.reshape(-1, 1, H, W).float(), (0, pw, 0, ph), mode="replicate")
    return y.reshape(*lead, H + ph, W + pw).to(x.dtype), (ph, pw)
