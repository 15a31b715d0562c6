"""Seeding Gaussians from RGB-D frames: one isotropic Gaussian per (sub-sampled) pixel."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..geometry.cameras import invert_rigid
from .gaussians import Gaussians, num_sh, rgb_to_sh
from .sampling import cap_points, knn_mean_sq_dist, random_subset

DEDUP_TOLERANCE = 0.02  # a seed within this share of a pixel's depth already covers that pixel's surface


def init_from_rgbd(
    rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor, *, subsample: int = 1,
    init_opacity: float = 0.9, sh_degree: int = 0, valid: torch.Tensor | None = None, dedup: bool = True,
    max_points_per_frame: int = 0, max_points: int = 0, min_depth: float = 0.0, init_scale: str = "footprint",
    pixel_offset: float = 0.5, seed: int = 0, dedup_tolerance: float | Sequence[float] = DEDUP_TOLERANCE,
    budget: float = 0.0, budgeted: Sequence[bool] | None = None, stats: dict | None = None,
) -> Gaussians:
    """Back-project every ``subsample``-th pixel (per axis) of V frames (rgb (V,H,W,3), depth (V,H,W)).

    The scale is the pixel footprint at that depth (depth / focal * subsample), so neighbouring splats
    just overlap and the seeded cloud renders the source view hole-free. Pixels with non-finite depth,
    depth <= ``min_depth``, or False in ``valid``, are skipped. With ``dedup``, a pixel of frame i > 0 whose
    surface a point of an earlier frame already lands on (same pixel, depth within ``dedup_tolerance`` of it: 2 %, or
    one value per frame) seeds nothing: history frames overlap almost entirely, and duplicates would multiply the
    optimisation cost.

    The authors' recipe (config/profiles.py) instead draws ``max_points_per_frame`` random pixels per
    frame, caps the cloud at ``max_points`` by voxel averaging, and sets ``init_scale="knn"`` scales; the
    random draws come from a CPU generator seeded with ``seed``.

    ``budget`` > 0: the frames flagged in ``budgeted`` (a world cache's retrieved frames) seed at most ``budget``
    frames' worth of points between them (one frame's worth: its sub-sampled pixel grid). Over it, each of them keeps the same share of its points, spread evenly by one
    ordered-dither pattern on its pixel grid, one in 64 at the least (the budget is then exceeded), and its kept
    splats are enlarged by the inverse square root of its kept share, so the thinned frame still covers what it
    saw. Thinning runs after dedup: a later frame's pixel is covered by what an earlier frame would have seeded
    whole. ``stats``, when given, gets the budgeted frames' seeds before and after thinning
    (``budgeted_seeds_unthinned``, ``budgeted_seeds``).
    """
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or depth.shape != rgb.shape[:3]:
        raise ValueError(f"init_from_rgbd: need rgb (V,H,W,3) and depth (V,H,W), got {tuple(rgb.shape)} and {tuple(depth.shape)}")
    s = int(subsample)
    V, H, W = depth.shape
    dev = depth.device
    gen = torch.Generator().manual_seed(int(seed))
    ys = torch.arange(s // 2, H, s, device=dev)
    xs = torch.arange(s // 2, W, s, device=dev)
    v, u = torch.meshgrid(ys.float() + pixel_offset, xs.float() + pixel_offset, indexing="ij")
    tols = [float(dedup_tolerance)] * V if isinstance(dedup_tolerance, (int, float)) else list(dedup_tolerance)
    if len(tols) != V or not all(math.isfinite(t) and t > 0 for t in tols):
        raise ValueError(f"init_from_rgbd: dedup_tolerance needs one finite positive value per frame ({V}), got {dedup_tolerance!r}")
    flags = [False] * V if budgeted is None else [bool(b) for b in budgeted]
    if len(flags) != V or budget < 0:
        raise ValueError(f"init_from_rgbd: need a budget >= 0 and one budgeted flag per frame ({V}), got {budget!r}, {budgeted!r}")
    parts, oks = [], []
    for i in range(V):
        d = depth[i][ys][:, xs].float()
        c = rgb[i][ys][:, xs].float()
        ok = torch.isfinite(d) & (d > min_depth)
        if valid is not None:
            ok &= valid[i][ys][:, xs].bool()
        Ki = K[i].to(dev).float()
        if dedup and parts:
            ok &= ~_covered(torch.cat([p[0] for p in parts]), d, Ki, w2c[i].to(dev).float(), s, tols[i])
        ok = random_subset(ok, max_points_per_frame, gen)
        pc = torch.stack([(u - Ki[0, 2]) / Ki[0, 0] * d, (v - Ki[1, 2]) / Ki[1, 1] * d, d], -1)[ok]
        c2w = invert_rigid(w2c[i].to(dev).float())
        pts = pc @ c2w[:3, :3].T + c2w[:3, 3]
        focal = 0.5 * (Ki[0, 0] + Ki[1, 1])
        parts.append((pts, c[ok], d[ok] / focal * s))
        oks.append(ok)
    before = sum(len(p[0]) for p, f in zip(parts, flags) if f)
    if budget > 0:
        parts = _thin(parts, oks, flags, max(1, round(budget * len(ys) * len(xs))), before)
    if stats is not None:
        after = sum(len(p[0]) for p, f in zip(parts, flags) if f)
        stats.update(budgeted_seeds_unthinned=before, budgeted_seeds=after)
    means = torch.cat([p[0] for p in parts])
    feats = torch.cat([torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])[:, None]], 1)
    means, feats = cap_points(means, feats, max_points)
    colors, scale = feats[:, :3].clamp(0, 1), feats[:, 3]
    if init_scale == "knn":
        scale = knn_mean_sq_dist(means).clamp_min(1e-7).sqrt()
    elif init_scale != "footprint":
        raise ValueError(f"init_scale must be 'footprint' or 'knn', got {init_scale!r}")
    n = means.shape[0]
    sh = torch.zeros(n, num_sh(sh_degree), 3, device=dev)
    sh[:, 0] = rgb_to_sh(colors)
    quats = torch.zeros(n, 4, device=dev)
    quats[:, 0] = 1.0
    logit = math.log(init_opacity / (1.0 - init_opacity))
    return Gaussians(
        means=means.contiguous(), quats=quats, scales=torch.log(scale).unsqueeze(-1).repeat(1, 3),
        opacities=torch.full((n,), logit, device=dev), sh=sh,
    )


def init_kwargs(cfg) -> dict:
    """init_from_rgbd's keyword arguments from a SplatConfig."""
    return dict(subsample=cfg.subsample, init_opacity=cfg.init_opacity, sh_degree=cfg.sh_degree, dedup=cfg.dedup,
                max_points_per_frame=cfg.max_points_per_frame, max_points=cfg.max_points, min_depth=cfg.min_depth,
                init_scale=cfg.init_scale, pixel_offset=cfg.pixel_offset)


def _bayer(n: int) -> torch.Tensor:
    """The n x n ordered-dither (Bayer) matrix, n a power of 2: values 0 .. n*n-1, spread evenly at every scale."""
    b = torch.zeros(1, 1, dtype=torch.long)
    while b.shape[0] < n:
        b = torch.cat([torch.cat([4 * b, 4 * b + 2], 1), torch.cat([4 * b + 3, 4 * b + 1], 1)], 0)
    return b


THIN_FLOOR = 1 / 64  # the thinnest a budgeted frame gets: one pixel in each 8 x 8 block


def _thin(parts: list, oks: list[torch.Tensor], flags: list[bool], budget: int, total: int) -> list:
    """Thin the flagged frames' points (``total`` of them) evenly to at most ``budget`` between them (see
    init_from_rgbd): each keeps the same share of its points, those first in the ordered-dither pattern (raster
    order among equals)."""
    if total <= budget:
        return parts
    share = max(budget / total, THIN_FLOOR)
    out = []
    for (pts, col, scale), ok, f in zip(parts, oks, flags):
        n = len(pts)
        if f and n:
            h, w = ok.shape
            rank = _bayer(8).to(ok.device).repeat((h + 7) // 8, (w + 7) // 8)[:h, :w][ok]
            q = max(1, math.floor(share * n))
            keep = torch.sort(torch.argsort(rank, stable=True)[:q]).values  # the points keep their order
            pts, col, scale = pts[keep], col[keep], scale[keep] * math.sqrt(n / q)
        out.append((pts, col, scale))
    return out


def _covered(points: torch.Tensor, d: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor, s: int,
             rel_tol: float) -> torch.Tensor:
    """(h, w) bool: sub-sampled pixels of a frame (depth d) on which one of ``points`` lands at that depth."""
    h, w = d.shape
    pc = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    front = z > 1e-6
    pc, z = pc[front], z[front]
    # pixel -> sub-sampled grid cell (the grid keeps pixels s//2, s//2 + s, ...)
    u = torch.floor((pc[:, 0] / z * K[0, 0] + K[0, 2]) / s).long()
    v = torch.floor((pc[:, 1] / z * K[1, 1] + K[1, 2]) / s).long()
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    u, v, z = u[inside], v[inside], z[inside]
    same = (z - d[v, u]).abs() <= rel_tol * d[v, u]
    out = torch.zeros(h * w, dtype=torch.bool, device=d.device)
    out[(v * w + u)[same]] = True
    return out.view(h, w)
