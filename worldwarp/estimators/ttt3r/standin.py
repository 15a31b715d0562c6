"""A tiny TTT3R with the released architecture at small widths and depths, random-initialised in code and saved in
the released checkpoint's format, so CI and the CPU demo run the whole loading and estimation path."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import save_release_format
from .config import TINY, Cut3rConfig
from .model import Cut3rModel

FILE_NAME = "cut3r_tiny_dpt.pth"


def tiny_model(seed: int = 0, cfg: Cut3rConfig = TINY) -> Cut3rModel:
    """Weights ~ N(0, (0.5 / sqrt(fan-in))^2), norms ~ 1; the point head's bias puts depth near e^2 - 1 ~ 6 units,
    positive as a trained model's."""
    g = torch.Generator().manual_seed(seed)
    model = Cut3rModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p[0].numel() if p.ndim >= 2 else 0
            p.copy_(torch.randn(p.shape, generator=g, device="cpu") * (0.5 / fan_in ** 0.5 if fan_in else 0.05))
            if name.endswith(".weight") and "norm" in name.rsplit(".", 2)[-2]:
                p.add_(1.0)
        model.downstream_head.dpt_self.head[4].bias.copy_(torch.tensor([0.0, 0.0, 2.0, 0.0]))
    return model.eval()


def build_tiny_ttt3r(out: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in checkpoint; ``out`` is a directory (the file goes inside) or a file path."""
    out = Path(out)
    path = out / FILE_NAME if out.suffix.lower() not in (".pth", ".pt", ".ckpt", ".bin") else out
    return save_release_format(tiny_model(seed), path)
