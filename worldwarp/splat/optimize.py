"""Fitting Gaussians to posed images: the 3DGS photometric loss (plus, optionally, an inverse-depth L1 term),
Adam, one random view per step."""

from __future__ import annotations

import torch
from pytorch_msssim import ssim
from tqdm.auto import tqdm

from ..config.splat import SplatConfig
from ..geometry.cameras import camera_centers
from .gaussians import Gaussians
from .rasterize import Backend, rasterize


def scene_extent(g: Gaussians, w2c: torch.Tensor) -> float:
    """Radius of the camera centres around their mean plus the median depth of the Gaussians.

    3DGS scales the means' learning rate by the camera spread alone; a chunk's history cameras can be
    nearly coincident (radius ~ 0), so the median depth adds the scene's own size to keep the lr sensible.
    """
    w2c = w2c.to(g.means)
    centers = camera_centers(w2c)
    radius = float((centers - centers.mean(0)).norm(dim=-1).max())
    pts = g.means.detach()[:: max(1, len(g) // 100_000)]
    z = pts @ w2c[:, 2, :3].T + w2c[:, 2, 3]
    z = z[z > 0]
    return radius + (float(z.median()) if z.numel() else 1.0)


def photometric_loss(pred: torch.Tensor, target: torch.Tensor, lambda_dssim: float) -> torch.Tensor:
    """(1 - lambda) L1 + lambda (1 - SSIM) on (B, H, W, 3) images."""
    l1 = (pred - target).abs().mean()
    if lambda_dssim == 0:
        return l1
    p, t = pred.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)
    # pytorch_msssim convolves without padding: the SSIM map covers only "valid" windows, as fused_ssim's
    # padding="valid" (the authors' call) does; same 11-tap Gaussian, sigma 1.5, K = (0.01, 0.03)
    return (1 - lambda_dssim) * l1 + lambda_dssim * (1 - ssim(p, t, data_range=1.0, size_average=True))


def inverse_depth_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |1/pred - 1/target| over pixels with target > 0; a pred of 0 (nothing rendered) counts as
    disparity 0. Zero when no target pixel is valid."""
    valid = torch.isfinite(target) & (target > 0)
    one = torch.ones_like(pred)
    hit = pred > 0
    # 1 / x only where x > 0: the other branch must not produce inf (its gradient would be NaN)
    disp = torch.where(hit, 1.0 / torch.where(hit, pred, one), torch.zeros_like(pred))
    disp_t = 1.0 / torch.where(valid, target, one)
    # a masked mean, not boolean indexing: no host sync per step on CUDA
    return ((disp - disp_t).abs() * valid).sum() / valid.sum().clamp_min(1)


def _param_groups(params: dict[str, torch.Tensor], cfg: SplatConfig, extent: float) -> list[dict]:
    scale = extent if cfg.lr_means_scale == "extent" else 1.0
    groups = [
        {"params": [params["means"]], "lr": cfg.lr_means * scale, "name": "means"},
        {"params": [params["scales"]], "lr": cfg.lr_scales, "name": "scales"},
        {"params": [params["quats"]], "lr": cfg.lr_quats, "name": "quats"},
        {"params": [params["opacities"]], "lr": cfg.lr_opacities, "name": "opacities"},
        {"params": [params["sh_dc"]], "lr": cfg.lr_colors, "name": "sh_dc"},
    ]
    if params["sh_rest"].shape[1] > 0:
        groups.append({"params": [params["sh_rest"]], "lr": cfg.lr_colors * cfg.lr_sh_rest_ratio, "name": "sh_rest"})
    return groups


def make_adam(params: dict[str, torch.Tensor], cfg: SplatConfig, extent: float) -> torch.optim.Adam:
    """One Adam over the parameter groups, eps 1e-15 (3DGS's and the authors' value). One optimiser with
    groups updates exactly like their one-Adam-per-group: Adam's state is per parameter."""
    fused = params["means"].device.type == "cuda"  # one kernel for all groups on CUDA; reference update on CPU
    return torch.optim.Adam(_param_groups(params, cfg, extent), eps=1e-15, fused=fused)


def optimize(
    g: Gaussians, rgb: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor, *, steps: int, cfg: SplatConfig,
    backend: Backend = "auto", progress: bool = False, seed: int = 0, depth: torch.Tensor | None = None,
) -> tuple[Gaussians, list[float]]:
    """Optimise ``steps`` Adam steps against V posed images rgb (V, H, W, 3); returns new Gaussians and the
    per-step losses. N never changes (no densification or pruning: the init is pixel-dense already).
    With cfg.lambda_depth > 0, ``depth`` (V, H, W) is the target of the inverse-depth term."""
    dev = g.device
    rgb, K, w2c = rgb.to(dev).float(), K.to(dev).float(), w2c.to(dev).float()
    V, H, W = rgb.shape[:3]
    use_depth = cfg.lambda_depth > 0
    if use_depth:
        if depth is None:
            raise ValueError("optimize: cfg.lambda_depth > 0 needs the frames' depth")
        depth = depth.to(dev).float()
    src = g.detach()
    params = {
        "means": src.means.clone().requires_grad_(True),
        "quats": src.quats.clone().requires_grad_(True),
        "scales": src.scales.clone().requires_grad_(True),
        "opacities": src.opacities.clone().requires_grad_(True),
        "sh_dc": src.sh[:, :1].clone().requires_grad_(True),
        "sh_rest": src.sh[:, 1:].clone().requires_grad_(True),
    }
    opt = make_adam(params, cfg, scene_extent(src, w2c))
    gen = torch.Generator().manual_seed(seed)  # CPU generator: the view order is the same on any device
    losses: list[torch.Tensor] = []  # kept on the device: a float() per step would sync every step
    for _ in tqdm(range(steps), disable=not progress, desc="3DGS", leave=False):
        i = int(torch.randint(V, (1,), generator=gen))
        cur = Gaussians(params["means"], params["quats"], params["scales"], params["opacities"],
                        torch.cat([params["sh_dc"], params["sh_rest"]], 1))
        out = rasterize(cur, K[i : i + 1], w2c[i : i + 1], W, H, backend=backend, with_depth=use_depth)
        loss = photometric_loss(out.rgb, rgb[i : i + 1], cfg.lambda_dssim)
        if use_depth:
            loss = loss + cfg.lambda_depth * inverse_depth_l1(out.depth, depth[i : i + 1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    sh = torch.cat([params["sh_dc"], params["sh_rest"]], 1)
    final = Gaussians(params["means"], params["quats"], params["scales"], params["opacities"], sh)
    return final.detach(), torch.stack(losses).tolist() if losses else []
