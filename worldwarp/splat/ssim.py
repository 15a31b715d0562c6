"""SSIM for the 3DGS loss with the five local statistics blurred together.

The same SSIM as pytorch_msssim's ``ssim`` (11-tap Gaussian, sigma 1.5, K = (0.01, 0.03), "valid" windows only,
mean over the map), which the loss used before: tests/test_splat_ssim.py holds the two to float32 rounding, value
and gradient. pytorch_msssim blurs X, Y, X², Y² and XY one after another (ten grouped convolutions forward, ten
backward); stacking them as channels makes it two forward and two backward, which is what costs on the GPU at
one 720×480 view per step (docs/BENCHMARKS.md §11).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as msssim_ssim

WIN_SIZE = 11
WIN_SIGMA = 1.5
_windows: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def _window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (device, dtype)
    if key not in _windows:
        x = torch.arange(WIN_SIZE, dtype=torch.float) - WIN_SIZE // 2
        g = torch.exp(-(x**2) / (2 * WIN_SIGMA**2))  # computed in float32 on the CPU as pytorch_msssim does
        _windows[key] = (g / g.sum()).to(device=device, dtype=dtype)
    return _windows[key]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of (B, C, H, W) images over all valid windows, channels and images."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (B, C, H, W) images of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    if min(x.shape[-2:]) < WIN_SIZE:
        # pytorch_msssim skips the blur along a dimension shorter than the window; keep its exact behaviour
        return msssim_ssim(x, y, data_range=data_range, size_average=True)
    c = x.shape[1]
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    g = _window(x.device, x.dtype)
    n = stats.shape[1]
    blurred = F.conv2d(stats, g.view(1, 1, 1, -1).expand(n, 1, 1, WIN_SIZE), groups=n)
    blurred = F.conv2d(blurred, g.view(1, 1, -1, 1).expand(n, 1, WIN_SIZE, 1), groups=n)
    mu_x, mu_y, xx, yy, xy = blurred.split(c, dim=1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    cs = (2 * (xy - mu_xy) + c2) / ((xx - mu_xx) + (yy - mu_yy) + c2)
    return (((2 * mu_xy + c1) / (mu_xx + mu_yy + c1)) * cs).mean()
