"""Image preprocessing for the depth models, in torch (runs on the model's device, no torchvision needed).

It mirrors transformers' processors from the settings in the directory's preprocessor_config.json:
- DPT / Depth Anything: resize keeping the aspect ratio (the side needing the smaller change fits ``size``),
  each side rounded to a multiple of ``ensure_multiple_of``; then rescale to [0, 1] and normalise.
- Depth Pro: normalise first, then resize to the fixed ``size`` (its patch pyramid needs that exact size).
The depth maps come back at the network's resolution and are resized to the frames' size by the caller.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IMAGENET_STANDARD = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])


def _size(cfg: dict) -> tuple[int, int]:
    size = cfg.get("size") or {}
    if "height" in size and "width" in size:
        return int(size["height"]), int(size["width"])
    if "shortest_edge" in size:
        return int(size["shortest_edge"]), int(size["shortest_edge"])
    raise ValueError(f"preprocessor size {size!r} is not supported (expected height and width)")


def _multiple(val: float, multiple: int) -> int:
    x = round(val / multiple) * multiple
    return int(x if x > 0 else math.ceil(val / multiple) * multiple)


def dpt_input_size(h: int, w: int, cfg: dict) -> tuple[int, int]:
    th, tw = _size(cfg)
    sh, sw = th / h, tw / w
    if cfg.get("keep_aspect_ratio", False):
        if abs(1 - sw) < abs(1 - sh):
            sh = sw
        else:
            sw = sh
    m = int(cfg.get("ensure_multiple_of", 1) or 1)
    return _multiple(sh * h, m), _multiple(sw * w, m)


def _normalize(x: torch.Tensor, cfg: dict) -> torch.Tensor:
    mean = torch.tensor(cfg.get("image_mean", IMAGENET_STANDARD[0]), dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("image_std", IMAGENET_STANDARD[1]), dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std if cfg.get("do_normalize", True) else x


def to_pixel_values(frames: torch.Tensor, cfg: dict, kind: str) -> torch.Tensor:
    """frames (V, H, W, 3) in [0, 1] -> pixel_values (V, 3, h, w). ``kind``: "dpt" or "depth_pro"."""
    x = frames.permute(0, 3, 1, 2).float().clamp(0, 1)
    H, W = x.shape[-2:]
    if kind == "depth_pro":
        return F.interpolate(_normalize(x, cfg), size=_size(cfg), mode="bilinear", align_corners=False)
    h, w = dpt_input_size(H, W, cfg)
    # bicubic as the DPT processor; clamp the overshoot before normalising
    x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return _normalize(x, cfg)


def resize_map(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(V, h, w) -> (V, H, W), bilinear (depth maps are smooth at the network's resolution)."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return F.interpolate(m.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
