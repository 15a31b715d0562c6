"""Pure-PyTorch EWA splatting: the differentiable CPU reference, following gsplat's conventions.

Per camera: project means, 2D covariance J W Sigma W^T J^T (J the perspective Jacobian, with gsplat's
clamp of x/z and y/z to 1.3x the field of view), add eps2d = 0.3 px^2 of blur, opacity-aware tight
bounding box (extend = min(3.33, sqrt(2 ln(255 o))) sigma), 8x8 tiles (on a CPU they pad less than gsplat's 16x16), front-to-back compositing per tile
over the depth-sorted list: alpha = min(0.999, o exp(-sigma)), skipped below 1/255, a pixel stops before
the Gaussian that would bring its transmittance to <= 1e-4. Memory stays bounded: tiles are composited in
groups whose padded (tiles x Gaussians x pixels) size stays under ``budget`` elements.
"""

from __future__ import annotations

import torch

from .gaussians import covariance

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
T_MIN = 1e-4


def project_gaussians(
    means: torch.Tensor, cov3d: torch.Tensor, w2c: torch.Tensor, K: torch.Tensor, width: int, height: int, eps2d: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel means (N, 2), z (N,), blurred 2D covariance entries (N, 3) = (a, b, c) and its determinant (N,)."""
    R, t = w2c[:3, :3], w2c[:3, 3]
    pc = means @ R.T + t
    x, y, z = pc.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    zs = torch.where(z.abs() < 1e-6, torch.full_like(z, 1e-6), z)  # culled later; avoid inf in the graph
    # gsplat clamps the Jacobian's x/z, y/z to slightly beyond the image: off-screen splats stay bounded
    lim_x = ((width - cx) / fx + 0.3 * 0.5 * width / fx, cx / fx + 0.3 * 0.5 * width / fx)
    lim_y = ((height - cy) / fy + 0.3 * 0.5 * height / fy, cy / fy + 0.3 * 0.5 * height / fy)
    tx = zs * torch.clamp(x / zs, -float(lim_x[1]), float(lim_x[0]))
    ty = zs * torch.clamp(y / zs, -float(lim_y[1]), float(lim_y[0]))
    zero = torch.zeros_like(zs)
    J = torch.stack([fx / zs, zero, -fx * tx / zs**2, zero, fy / zs, -fy * ty / zs**2], -1).reshape(-1, 2, 3)
    JW = J @ R
    cov2d = JW @ cov3d @ JW.transpose(-1, -2)
    a, b, c = cov2d[:, 0, 0] + eps2d, cov2d[:, 0, 1], cov2d[:, 1, 1] + eps2d
    mean2d = torch.stack([fx * x / zs + cx, fy * y / zs + cy], -1)
    return mean2d, z, torch.stack([a, b, c], -1), a * c - b * b


@torch.no_grad()
def _tile_ranges(
    mean2d: torch.Tensor, cov: torch.Tensor, det: torch.Tensor, z: torch.Tensor, opac: torch.Tensor,
    width: int, height: int, tile: int, near: float, far: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inclusive-exclusive tile bbox (x0, y0, x1, y1) per Gaussian; culled Gaussians get an empty box."""
    extend = torch.sqrt(2.0 * torch.log((opac / ALPHA_MIN).clamp_min(1.0))).clamp_max(3.33)
    rx = torch.ceil(extend * cov[:, 0].clamp_min(0).sqrt())
    ry = torch.ceil(extend * cov[:, 2].clamp_min(0).sqrt())
    mx, my = mean2d[:, 0], mean2d[:, 1]
    ok = (z >= near) & (z <= far) & (det > 0) & (opac >= ALPHA_MIN) & (rx > 0) & (ry > 0)
    ok &= (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
    tw, th = -(-width // tile), -(-height // tile)
    x0 = torch.floor((mx - rx) / tile).clamp(0, tw)
    x1 = torch.ceil((mx + rx) / tile).clamp(0, tw)
    y0 = torch.floor((my - ry) / tile).clamp(0, th)
    y1 = torch.ceil((my + ry) / tile).clamp(0, th)
    x1, y1 = torch.where(ok, x1, x0), torch.where(ok, y1, y0)
    return x0.long(), y0.long(), x1.long(), y1.long()


@torch.no_grad()
def _intersections(
    boxes: tuple[torch.Tensor, ...], z: torch.Tensor, tiles_x: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tile id, Gaussian id) of every tile/Gaussian overlap, sorted by tile then depth (like gsplat)."""
    x0, y0, x1, y1 = boxes
    w = x1 - x0
    counts = w * (y1 - y0)
    gid = torch.repeat_interleave(torch.arange(len(z), device=z.device), counts)
    start = torch.cumsum(counts, 0) - counts
    k = torch.arange(len(gid), device=z.device) - start[gid]
    tid = (y0[gid] + k // w[gid]) * tiles_x + x0[gid] + k % w[gid]
    rank = torch.empty(len(z), dtype=torch.long, device=z.device)
    rank[torch.argsort(z, stable=True)] = torch.arange(len(z), device=z.device)
    order = torch.argsort(tid * len(z) + rank[gid], stable=True)
    return tid[order], gid[order]


def gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """t[idx] for idx of any shape, through index_select. Gradients go back the other way through index_add_
    (_scatter here; index_select's own backward under autograd), which adds in index order whatever the thread
    count: advanced indexing's index_put_(accumulate=True) varied run to run on a multi-threaded CPU (by up to
    0.65 in opacity after 40 steps)."""
    return t.index_select(0, idx.reshape(-1)).view(*idx.shape, *t.shape[1:])


def _offsets(
    idx: torch.Tensor, pix: torch.Tensor, mean2d: torch.Tensor, conic: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Pixel offsets dx, dy (G, L, P) from each listed Gaussian and its conic entries (G, L, 1) each."""
    m = gather(mean2d, idx)
    dx = m[:, :, None, 0] - pix[:, None, :, 0]
    dy = m[:, :, None, 1] - pix[:, None, :, 1]
    cn = gather(conic, idx)
    return dx, dy, cn[..., 0, None], cn[..., 1, None], cn[..., 2, None]


def _scatter(v: torch.Tensor, idx: torch.Tensor, n: int) -> torch.Tensor:
    """Sum per-slot gradients v (G, L, k) into their Gaussians (n, k), in index order (deterministic)."""
    flat = idx.reshape(-1)
    return v.new_zeros(n, v.shape[-1]).index_add_(0, flat, v.reshape(flat.numel(), -1))


class _Composite(torch.autograd.Function):
    """Front-to-back compositing of tiles with gsplat's analytic backward.

    Autograd through the dozen (tiles x Gaussians x pixels) temporaries of the forward made the CPU 3DGS step
    memory-bound; this keeps three of them (alpha, transmittance, exp(-sigma)) and a mask, works in place, and
    reduces over pixels before scattering to the Gaussians. Same image bit for bit; gradients equal autograd's to
    float rounding (tests/test_splat_raster.py checks both, and gradcheck in float64).
    """

    @staticmethod
    def forward(ctx, idx, pix, mean2d, conic, opac, feats):  # type: ignore[override]
        dx, dy, c0, c1, c2 = _offsets(idx, pix, mean2d, conic)
        # 0.5 * (c0 dx^2 + c2 dy^2) + c1 dx dy, term by term (halving is exact in binary floating point)
        sigma = (0.5 * c0) * dx * dx
        sigma += (0.5 * c2) * dy * dy
        sigma += c1 * dx * dy
        del dx, dy
        e = torch.exp(-sigma)
        alpha = gather(opac, idx)[..., None] * e
        drawn = sigma >= 0
        del sigma
        grad = any(ctx.needs_input_grad)  # rendering a fixed cache (warp) needs no backward state
        if grad:
            live = alpha <= ALPHA_MAX  # where alpha = o exp(-sigma) is not clamped
        alpha.clamp_max_(ALPHA_MAX)
        drawn &= alpha >= ALPHA_MIN
        alpha.masked_fill_(~drawn, 0.0)
        T = torch.cumprod(1.0 - alpha, dim=1)
        # a pixel stops BEFORE the Gaussian that would drop T to <= 1e-4; T is monotone, so this keeps a prefix
        kept = T > T_MIN
        alpha.mul_(kept)
        T = T.roll(1, 1)  # transmittance in front of each Gaussian
        T[:, 0] = 1.0
        w = alpha * T
        out = torch.einsum("glp,gld->gpd", w, gather(feats, idx))
        if grad:
            live &= drawn
            live &= kept
            ctx.save_for_backward(idx, pix, mean2d, conic, opac, feats, alpha, T, e, live)
        return out, w.sum(1)

    @staticmethod
    def backward(ctx, g_out, g_acc):  # type: ignore[override]
        idx, pix, mean2d, conic, opac, feats, alpha, T, e, live = ctx.saved_tensors
        n = mean2d.shape[0]
        w = alpha * T
        # c = dL/dw per slot and pixel: colour and accumulated alpha both take w linearly
        c = torch.einsum("gpd,gld->glp", g_out, gather(feats, idx))
        c += g_acc[:, None, :]
        g_feats = torch.einsum("glp,gpd->gld", w, g_out)
        w *= c
        behind = w.sum(1, keepdim=True) - w.cumsum(1)  # sum of w c over the Gaussians behind each one
        del w
        # dL/dalpha_i = T_i c_i - (sum_{k>i} w_k c_k) / (1 - alpha_i), on the live slots only
        behind /= 1.0 - alpha
        c *= T
        c -= behind
        del behind
        c *= live
        g_opac = (c * e).sum(-1, keepdim=True)
        c *= e
        c *= gather(opac, idx)[..., None]  # now -dL/dsigma
        dx, dy, c0, c1, c2 = _offsets(idx, pix, mean2d, conic)
        sx, sy = c * dx, c * dy
        sxx, syy, sxy = (sx * dx).sum(-1), (sy * dy).sum(-1), (sx * dy).sum(-1)
        sx, sy = sx.sum(-1), sy.sum(-1)
        c0, c1, c2 = c0[..., 0], c1[..., 0], c2[..., 0]
        g_mean = -torch.stack([c0 * sx + c1 * sy, c2 * sy + c1 * sx], -1)
        g_conic = -torch.stack([0.5 * sxx, sxy, 0.5 * syy], -1)
        return (None, None, _scatter(g_mean, idx, n), _scatter(g_conic, idx, n),
                _scatter(g_opac, idx, n).view(-1), _scatter(g_feats, idx, n))


def _composite_group(
    idx: torch.Tensor, pix: torch.Tensor, mean2d: torch.Tensor, conic: torch.Tensor, opac: torch.Tensor,
    feats: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite tiles (G) over padded depth-sorted lists idx (G, L) at pixels pix (G, P, 2): (G, P, D), (G, P)."""
    return _Composite.apply(idx, pix, mean2d, conic, opac, feats)


def _groups(counts: torch.Tensor, tile_px: int, budget: int) -> list[torch.Tensor]:
    """Tile ids in groups (longest lists first) whose padded size G * Lmax * P stays under budget."""
    order = torch.argsort(counts, descending=True)
    order = order[counts[order] > 0]
    groups, i = [], 0
    while i < len(order):
        lmax = int(counts[order[i]])
        g = max(1, budget // max(1, lmax * tile_px))
        groups.append(order[i : i + g])
        i += g
    return groups


def rasterize_features_torch(
    means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor, feats: torch.Tensor,
    w2c: torch.Tensor, K: torch.Tensor, width: int, height: int, *, near: float = 0.01, far: float = 1e10,
    eps2d: float = 0.3, tile: int = 8, budget: int = 4_000_000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-camera features (C, N, D) splatted to (C, H, W, D) plus alpha (C, H, W).
    scales are LINEAR and opacities in [0, 1] (the caller activates the raw parameters)."""
    cov3d = covariance(quats, scales)
    tiles_x, tiles_y = -(-width // tile), -(-height // tile)
    # pixel centres of every tile, (tiles, P, 2), at integer + 0.5
    ly, lx = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    ty, tx = torch.meshgrid(torch.arange(tiles_y), torch.arange(tiles_x), indexing="ij")
    px = (tx.reshape(-1, 1) * tile + lx.reshape(1, -1)).float() + 0.5
    py = (ty.reshape(-1, 1) * tile + ly.reshape(1, -1)).float() + 0.5
    pix = torch.stack([px, py], -1).to(means.device)
    n_tiles, D = tiles_x * tiles_y, feats.shape[-1]
    images, alphas = [], []
    for ci in range(w2c.shape[0]):
        mean2d, z, cov, det = project_gaussians(means, cov3d, w2c[ci], K[ci], width, height, eps2d)
        boxes = _tile_ranges(mean2d.detach(), cov.detach(), det.detach(), z.detach(), opacities.detach(),
                             width, height, tile, near, far)
        tid, gid = _intersections(boxes, z.detach(), tiles_x)
        counts = torch.bincount(tid, minlength=n_tiles)
        starts = torch.cumsum(counts, 0) - counts
        safe_det = torch.where(det > 0, det, torch.ones_like(det))
        conic = torch.stack([cov[:, 2], -cov[:, 1], cov[:, 0]], -1) / safe_det[:, None]
        # one padding Gaussian (index N) with zero opacity: padded slots contribute nothing
        pad = lambda t: torch.cat([t, torch.zeros_like(t[:1])])  # noqa: E731
        m2, cn, op, ft = pad(mean2d), pad(conic), pad(opacities), pad(feats[ci])
        img = means.new_zeros(n_tiles, tile * tile, D)
        alpha = means.new_zeros(n_tiles, tile * tile)
        for group in _groups(counts, tile * tile, budget):
            lmax = int(counts[group[0]])
            slot = torch.arange(lmax, device=means.device)
            pos = starts[group, None] + slot
            idx = torch.where(slot < counts[group, None], gid[pos.clamp_max(len(gid) - 1)], len(z))
            out, a = _composite_group(idx, pix[group], m2, cn, op, ft)
            img = img.index_copy(0, group, out)
            alpha = alpha.index_copy(0, group, a)
        img = img.reshape(tiles_y, tiles_x, tile, tile, D).permute(0, 2, 1, 3, 4).reshape(tiles_y * tile, tiles_x * tile, D)
        alpha = alpha.reshape(tiles_y, tiles_x, tile, tile).permute(0, 2, 1, 3).reshape(tiles_y * tile, tiles_x * tile)
        images.append(img[:height, :width])
        alphas.append(alpha[:height, :width])
    return torch.stack(images), torch.stack(alphas)
