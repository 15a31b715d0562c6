"""Push-pull hole filling (a mip pyramid of weighted colour averages, pulled down and pushed back up): the
smooth fill the push-pull filler uses whole, and the depth-aware filler where no surface explains a hole."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pull(c: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One level down: colour averaged over the valid children, weight = min(1, sum of children's weights)."""
    H, W = c.shape[-2:]
    pad = (0, W % 2, 0, H % 2)  # zero weight on the padding keeps odd sizes exact
    ws = F.avg_pool2d(F.pad(w, pad), 2) * 4
    cs = F.avg_pool2d(F.pad(c * w, pad), 2) * 4
    return cs / ws.clamp_min(1e-8), ws.clamp(max=1.0)


def push_pull_fill(img: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill (N, C, H, W) where ``weight`` (N, 1, H, W) is 0; pixels with weight 1 are kept exactly."""
    cs, ws = [img], [weight.clamp(0, 1)]
    while min(cs[-1].shape[-2:]) > 1:
        c, w = _pull(cs[-1], ws[-1])
        cs.append(c)
        ws.append(w)
    filled = cs[-1]
    for c, w in zip(reversed(cs[:-1]), reversed(ws[:-1])):
        up = F.interpolate(filled, size=c.shape[-2:], mode="bilinear", align_corners=False)
        filled = w * c + (1 - w) * up
    return filled
