"""Per-frame image metrics. Frames are (N, H, W, 3) float tensors in [0, 1]."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from pytorch_msssim import ssim as _ssim


class LpipsUnavailable(RuntimeError):
    """LPIPS needs its network weights on disk; evaluation reports the metric as skipped instead."""


def psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR in dB per frame (N,), over all pixels or over ``mask`` (N, H, W) True pixels."""
    err = (pred.float() - target.float()) ** 2
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = mask.float().unsqueeze(-1).expand_as(err)
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def ssim(pred: torch.Tensor, target: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """SSIM per frame (N,), Gaussian window 11 / sigma 1.5 as in Wang et al. (pytorch_msssim)."""
    out = []
    for i in range(0, pred.shape[0], batch):
        p = pred[i:i + batch].float().permute(0, 3, 1, 2)
        t = target[i:i + batch].float().permute(0, 3, 1, 2)
        win = 11 if min(p.shape[-2:]) > 11 else (min(p.shape[-2:]) // 2) * 2 - 1
        out.append(_ssim(p, t, data_range=1.0, size_average=False, win_size=win))
    return torch.cat(out)


def lpips_scorer(weights: str | Path | None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """An LPIPS (AlexNet) scorer from local weights, or LpipsUnavailable saying why not.

    The `lpips` package fetches its backbone from the internet on first use; we only use it when the
    user points at a directory holding both the backbone (alexnet.pth) and the linear layers (alex.pth).
    """
    if weights is None:
        raise LpipsUnavailable("LPIPS skipped: no local weights configured (eval.lpips_weights)")
    root = Path(weights)
    missing = [n for n in ("alexnet.pth", "alex.pth") if not (root / n).is_file()]
    if missing:
        raise LpipsUnavailable(f"LPIPS skipped: {root} lacks {', '.join(missing)}")
    try:
        import lpips  # type: ignore[import-not-found]
    except ImportError as e:
        raise LpipsUnavailable(f"LPIPS skipped: the lpips package is not installed ({e})") from None
    net = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False)
    net.net.load_state_dict(torch.load(root / "alexnet.pth", map_location="cpu"), strict=False)
    net.load_state_dict(torch.load(root / "alex.pth", map_location="cpu"), strict=False)
    net.eval()

    def score(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            p, t = (x.float().permute(0, 3, 1, 2) * 2 - 1 for x in (pred, target))
            return net(p, t).flatten()

    return score
