"""The PyTorch EWA rasteriser: analytic footprint, compositing order, depth, gradients, backend selection."""

import math

import pytest
import torch

from worldwarp.geometry.cameras import intrinsics_from_fov, look_at
from worldwarp.splat import BackendError, Gaussians, rasterize, resolve_backend

W, H = 64, 48


def _one(mean, scale, opacity, color, k=1) -> Gaussians:
    sh = torch.zeros(1, k, 3)
    sh[0, 0] = (torch.tensor(color) - 0.5) / 0.28209479177387814
    return Gaussians(
        means=torch.tensor([mean], dtype=torch.float32), quats=torch.tensor([[1.0, 0, 0, 0]]),
        scales=torch.full((1, 3), math.log(scale)), opacities=torch.tensor([math.log(opacity / (1 - opacity))]), sh=sh,
    )


def _cam():
    return intrinsics_from_fov(W, H, 60)[None], torch.eye(4)[None]


def test_isotropic_gaussian_matches_analytic_footprint():
    K, w2c = _cam()
    z, s, o = 4.0, 0.1, 0.8
    out = rasterize(_one([0.0, 0.0, z], s, o, [1.0, 0.5, 0.25]), K, w2c, W, H, backend="torch")
    f = float(K[0, 0, 0])
    var = (f * s / z) ** 2 + 0.3  # EWA footprint plus gsplat's 0.3 px^2 low-pass
    v, u = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    r2 = (u - W / 2) ** 2 + (v - H / 2) ** 2
    expect = o * torch.exp(-0.5 * r2 / var)
    inside = r2 < (2.5**2) * var  # well inside the bounding box, where no tile cut-off applies
    assert inside.sum() > 20
    assert torch.allclose(out.alpha[0][inside], expect[inside], atol=1e-5)
    assert out.alpha[0].max() == pytest.approx(o * math.exp(-0.5 * 0.5 / var), abs=1e-5)  # nearest centres at 0.5 px
    # colour is alpha-weighted (no background): rgb / alpha is the Gaussian's colour
    c = out.rgb[0][inside] / out.alpha[0][inside, None]
    assert torch.allclose(c, torch.tensor([1.0, 0.5, 0.25]).expand_as(c), atol=1e-5)
    assert torch.allclose(out.depth[0][inside], torch.tensor(z))  # fronto-parallel splat: depth is its z


def test_near_opaque_gaussian_hides_far_one():
    K, w2c = _cam()
    near, far = _one([0, 0, 2.0], 0.5, 0.999, [1.0, 0, 0]), _one([0, 0, 5.0], 0.5, 0.999, [0, 0, 1.0])
    for g in (Gaussians.cat([near, far]), Gaussians.cat([far, near])):  # input order must not matter
        out = rasterize(g, K, w2c, W, H, backend="torch")
        px = out.rgb[0, H // 2, W // 2]
        assert px[0] > 0.99 and px[2] < 1e-2
        assert out.depth[0, H // 2, W // 2] == pytest.approx(2.0, abs=0.01)


def test_background_fills_empty_pixels():
    K, w2c = _cam()
    out = rasterize(_one([0, 0, 4.0], 0.05, 0.9, [1, 1, 1]), K, w2c, W, H, backend="torch", background=torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(out.rgb[0, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    assert out.alpha[0, 0, 0] == 0 and out.depth[0, 0, 0] == 0


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    n = 200
    g = Gaussians(
        means=torch.randn(n, 3) * 0.5 + torch.tensor([0, 0, 4.0]), quats=torch.randn(n, 4),
        scales=torch.full((n, 3), math.log(0.08)) + 0.2 * torch.randn(n, 3), opacities=torch.randn(n),
        sh=torch.randn(n, 4, 3) * 0.3,
    )
    params = {k: v.clone().requires_grad_(True) for k, v in g.tensors().items()}
    K = intrinsics_from_fov(W, H, 60)[None]
    w2c = look_at(torch.tensor([0.3, -0.2, 0.0]), torch.tensor([0.0, 0.0, 4.0]))[None]
    out = rasterize(Gaussians(**params), K, w2c, W, H, backend="torch")
    loss = (out.rgb * torch.rand_like(out.rgb)).sum() + (out.depth * out.alpha).sum() * 0.1 + out.alpha.sum()
    loss.backward()
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_tiles_give_same_image_as_one_big_group():
    """Splitting tiles into memory-bounded groups must not change the result."""
    from worldwarp.splat.raster_torch import rasterize_features_torch

    torch.manual_seed(1)
    n = 300
    means = torch.randn(n, 3) * 0.6 + torch.tensor([0, 0, 4.0])
    args = (means, torch.randn(n, 4), torch.full((n, 3), 0.1), torch.rand(n), torch.rand(1, n, 3))
    K, w2c = _cam()
    a = rasterize_features_torch(*args, w2c, K, W, H, budget=10**9)
    b = rasterize_features_torch(*args, w2c, K, W, H, budget=1)
    assert torch.allclose(a[0], b[0], atol=1e-6) and torch.allclose(a[1], b[1], atol=1e-6)


def test_backend_selection_on_cpu():
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("torch", torch.device("cpu")) == "torch"
    K, w2c = _cam()
    with pytest.raises(BackendError, match="CUDA"):
        rasterize(_one([0, 0, 4.0], 0.1, 0.5, [1, 1, 1]), K, w2c, W, H, backend="gsplat")
    with pytest.raises(BackendError, match="unknown backend"):
        resolve_backend("opengl", torch.device("cpu"))


def _unclamped_alpha(idx, pix, mean2d, conic, opac):
    """o exp(-sigma) per slot and pixel, and sigma, written plainly."""
    from worldwarp.splat.raster_torch import gather

    m, cn = gather(mean2d, idx), gather(conic, idx)
    dx = m[:, :, None, 0] - pix[:, None, :, 0]
    dy = m[:, :, None, 1] - pix[:, None, :, 1]
    sigma = 0.5 * (cn[..., 0, None] * dx * dx + cn[..., 2, None] * dy * dy) + cn[..., 1, None] * dx * dy
    return gather(opac, idx)[..., None] * torch.exp(-sigma), sigma


def _autograd_composite(idx, pix, mean2d, conic, opac, feats):
    """The compositing formula written plainly and differentiated by autograd: the reference for the analytic backward."""
    from worldwarp.splat.raster_torch import ALPHA_MAX, ALPHA_MIN, T_MIN, gather

    raw, sigma = _unclamped_alpha(idx, pix, mean2d, conic, opac)
    alpha = raw.clamp_max(ALPHA_MAX)
    alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
    T_incl = torch.cumprod(1.0 - alpha, dim=1)
    alpha = alpha * (T_incl > T_MIN).detach()
    T_excl = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=1)
    w = alpha * T_excl
    return torch.einsum("glp,gld->gpd", w, gather(feats, idx)), w.sum(1)


def _tiles(n, g=6, lmax=40, p=16, dtype=torch.float32, seed=0):
    """Random tiles over n Gaussians (index n = the zero-opacity pad): footprints that overlap, some opaque enough
    to stop pixels early, some clamped at ALPHA_MAX, some below ALPHA_MIN."""
    gen = torch.Generator().manual_seed(seed)
    pad = lambda t: torch.cat([t, torch.zeros_like(t[:1])])  # noqa: E731
    mean2d = pad(torch.rand(n, 2, generator=gen, dtype=dtype) * 8)
    a, c = (0.05 + torch.rand(n, generator=gen, dtype=dtype) * 0.5 for _ in range(2))
    b = (torch.rand(n, generator=gen, dtype=dtype) - 0.5) * 0.5 * torch.sqrt(a * c)
    conic = pad(torch.stack([a, b, c], -1))
    opac = pad(torch.rand(n, generator=gen, dtype=dtype) * 1.02)
    feats = pad(torch.rand(n, 3, generator=gen, dtype=dtype))
    idx = torch.randint(0, n, (g, lmax), generator=gen)
    idx[:, lmax // 2 + torch.randint(0, lmax // 2, (1,), generator=gen).item():] = n  # padded tails
    pix = torch.rand(g, p, 2, generator=gen, dtype=dtype) * 8
    return idx, pix, mean2d, conic, opac, feats


def test_analytic_backward_passes_gradcheck():
    from worldwarp.splat.raster_torch import _Composite

    idx, pix, *rest = _tiles(12, g=3, lmax=10, p=6, dtype=torch.float64)
    leaves = [t.clone().requires_grad_(True) for t in rest]
    assert torch.autograd.gradcheck(lambda *ts: _Composite.apply(idx, pix, *ts), leaves, eps=1e-6, atol=1e-6)


def test_analytic_backward_equals_autograd_of_the_plain_formula():
    from worldwarp.splat.raster_torch import _composite_group

    idx, pix, *rest = _tiles(60)
    a, b = [[t.clone().requires_grad_(True) for t in rest] for _ in range(2)]
    out_a, acc_a = _composite_group(idx, pix, *a)
    out_b, acc_b = _autograd_composite(idx, pix, *b)
    assert torch.equal(out_a, out_b) and torch.equal(acc_a, acc_b)  # the forward is the same arithmetic
    # a pixel that stops early and a slot clamped at ALPHA_MAX both occur, so their rules are exercised
    from worldwarp.splat.raster_torch import ALPHA_MAX, T_MIN

    with torch.no_grad():
        raw, sigma = _unclamped_alpha(idx, pix, *rest[:3])
        drawn = torch.where((sigma >= 0) & (raw >= 1 / 255), raw.clamp_max(ALPHA_MAX), torch.zeros_like(raw))
    assert (raw > ALPHA_MAX).any() and (torch.cumprod(1.0 - drawn, dim=1) <= T_MIN).any()
    gen = torch.Generator().manual_seed(1)
    go, ga = torch.randn(out_a.shape, generator=gen), torch.randn(acc_a.shape, generator=gen)
    torch.autograd.backward([out_a, acc_a], [go, ga])
    torch.autograd.backward([out_b, acc_b], [go, ga])
    for name, x, y in zip(("mean2d", "conic", "opacity", "feats"), a, b, strict=True):
        assert y.grad.abs().max() > 0, name
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-4, atol=1e-5 * float(y.grad.abs().max()), msg=name)
