"""Cache building on a hand-made scene: init reproduces the source view, optimisation lowers the loss,
is deterministic, and continue mode concatenates."""

import pytest
import torch

from worldwarp.config.splat import SplatConfig
from worldwarp.geometry.cameras import intrinsics_from_fov, look_at
from worldwarp.splat import build_cache, init_from_rgbd, optimize, rasterize, render

W, H = 48, 32


def _scene():
    """Two views of a smooth-textured plane at z = 3 with a nearer box face (z = 2) in the middle."""
    K = intrinsics_from_fov(W, H, 60)[None].repeat(2, 1, 1)
    w2c = torch.stack([torch.eye(4), look_at(torch.tensor([0.1, 0.0, 0.0]), torch.tensor([0.1, 0.0, 3.0]))])
    v, u = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    rgb = torch.stack([0.5 + 0.4 * torch.sin(6 * u), 0.5 + 0.4 * torch.cos(5 * v), 0.5 + 0.3 * u * v], -1)
    depth = torch.full((H, W), 3.0)
    depth[10:22, 16:32] = 2.0
    rgb[10:22, 16:32] = torch.tensor([0.9, 0.2, 0.1])
    return rgb[None].repeat(2, 1, 1, 1), depth[None].repeat(2, 1, 1), K, w2c


def test_init_from_rgbd_reproduces_the_source_view():
    rgb, depth, K, w2c = _scene()
    g = init_from_rgbd(rgb[:1], depth[:1], K[:1], w2c[:1])
    assert len(g) == H * W
    assert torch.allclose(g.scales[0].exp(), (3.0 / K[0, 0, 0]).expand(3))
    out = rasterize(g, K[:1], w2c[:1], W, H, backend="torch")
    inner = (slice(2, -2), slice(2, -2))
    assert (out.alpha[0][inner] > 0.95).all()
    rel = ((out.depth[0] - depth[0]).abs() / depth[0])[inner]
    assert rel.median() < 0.01
    g4 = init_from_rgbd(rgb, depth, K, w2c, subsample=4, valid=depth > 2.5, dedup=False)
    assert len(g4) == 2 * ((H // 4) * (W // 4) - 3 * 4)  # the box face's 3x4 sub-sampled pixels are dropped


def test_dedup_seeds_only_what_earlier_frames_missed():
    rgb, depth, K, w2c = _scene()
    one = len(init_from_rgbd(rgb[:1], depth[:1], K[:1], w2c[:1]))
    both = init_from_rgbd(rgb, depth, K, w2c)
    added = len(both) - one
    # the second camera is 0.1 m to the right: it adds its new right-hand strip and the wall revealed
    # beside the box, not a second copy of the frame
    assert 0 < added < 0.2 * one
    out = rasterize(both, K[1:], w2c[1:], W, H, backend="torch")
    assert (out.alpha[0][2:-2, 2:-2] > 0.95).all()


def test_dedup_tolerance_is_per_frame():
    """A second view from the same camera whose depth reads 5 % farther: at the default 2 % its surface is new and
    seeds again; at 10 % for that frame it seeds nothing, and the first frame (no earlier seeds) is untouched."""
    rgb, depth, K, w2c = _scene()
    K = K[:1].repeat(2, 1, 1)
    w2c = w2c[:1].repeat(2, 1, 1)
    depth = torch.stack([depth[0], depth[0] * 1.05])
    one = len(init_from_rgbd(rgb[:1], depth[:1], K[:1], w2c[:1]))
    assert len(init_from_rgbd(rgb, depth, K, w2c)) == 2 * one
    assert len(init_from_rgbd(rgb, depth, K, w2c, dedup_tolerance=[0.02, 0.1])) == one
    assert len(init_from_rgbd(rgb, depth, K, w2c, dedup_tolerance=0.1)) == one
    for bad in ([0.1], [0.1, 0.0], [0.1, float("nan")]):
        with pytest.raises(ValueError, match="dedup_tolerance needs one finite positive value per frame"):
            init_from_rgbd(rgb, depth, K, w2c, dedup_tolerance=bad)


def test_a_seed_budget_thins_the_budgeted_frames_evenly_and_keeps_their_view_covered():
    """memory.seed_budget's mechanism: a budgeted frame (a second view of the scene, depth 5 % off so dedup leaves
    it whole) seeds a quarter of its pixels for a budget of a quarter frame, evenly (every 4 x 4 block keeps 4), with
    splats twice as wide, so it still covers its whole view; the unbudgeted frame is untouched; a budget it fits
    in changes nothing; the thinnest is one pixel in 64."""
    rgb, depth, K, w2c = _scene()
    K, w2c = K[:1].repeat(2, 1, 1), w2c[:1].repeat(2, 1, 1)
    depth = torch.stack([depth[0], depth[0] * 1.05])
    whole = init_from_rgbd(rgb, depth, K, w2c)
    assert len(whole) == 2 * H * W
    g = init_from_rgbd(rgb, depth, K, w2c, budget=0.25, budgeted=[False, True])
    assert len(g) == H * W + H * W // 4
    assert torch.equal(g.means[: H * W], whole.means[: H * W]) and torch.equal(g.scales[: H * W], whole.scales[: H * W])
    kept = g.means[H * W :] @ w2c[1, :3, :3].T + w2c[1, :3, 3]
    u = torch.floor(kept[:, 0] / kept[:, 2] * K[1, 0, 0] + K[1, 0, 2]).long()
    v = torch.floor(kept[:, 1] / kept[:, 2] * K[1, 1, 1] + K[1, 1, 2]).long()
    per_block = torch.bincount((v // 4) * (W // 4) + u // 4, minlength=(H // 4) * (W // 4))
    assert (per_block == 4).all()
    focal = 0.5 * (K[1, 0, 0] + K[1, 1, 1])
    assert torch.allclose(g.scales[H * W :, 0].exp(), 2 * kept[:, 2] / focal, rtol=1e-4)  # twice the footprint
    alone = init_from_rgbd(rgb[1:], depth[1:], K[1:], w2c[1:], budget=0.25, budgeted=[True])
    out = rasterize(alone, K[1:], w2c[1:], W, H, backend="torch")
    assert (out.alpha[0][2:-2, 2:-2] > 0.9).all()
    fits = init_from_rgbd(rgb, depth, K, w2c, budget=1.0, budgeted=[False, True])
    assert torch.equal(fits.means, whole.means) and torch.equal(fits.scales, whole.scales)
    assert len(init_from_rgbd(rgb, depth, K, w2c, budget=1 / (H * W), budgeted=[False, True])) == H * W + H * W // 64
    for budget, flags in ((-1, [False, True]), (10, [True])):
        with pytest.raises(ValueError, match="budgeted flag per frame"):
            init_from_rgbd(rgb, depth, K, w2c, budget=budget, budgeted=flags)


def test_optimize_lowers_loss_and_is_deterministic():
    rgb, depth, K, w2c = _scene()
    g = init_from_rgbd(rgb, depth, K, w2c, subsample=2)
    torch.manual_seed(0)
    g.sh[:, 0] += 0.5 * torch.randn_like(g.sh[:, 0])  # perturbed colours: something to fix
    cfg = SplatConfig(steps=30)
    a, la = optimize(g, rgb, K, w2c, steps=30, cfg=cfg, backend="torch", seed=3)
    b, lb = optimize(g, rgb, K, w2c, steps=30, cfg=cfg, backend="torch", seed=3)
    assert len(la) == 30 and sum(la[-5:]) / 5 < 0.7 * sum(la[:5]) / 5
    assert la == lb
    for name, t in a.tensors().items():
        assert torch.equal(t, getattr(b, name)), name
    assert not torch.equal(a.means, g.means)
    _, lc = optimize(g, rgb, K, w2c, steps=5, cfg=cfg, backend="torch", seed=4)
    assert lc != la[:5]


def test_continue_mode_concatenates_and_render_masks():
    rgb, depth, K, w2c = _scene()
    cfg = SplatConfig(steps=0, subsample=2)
    g0, losses = build_cache(rgb[:1], depth[:1], K[:1], w2c[:1], cfg, backend="torch")
    assert losses == [] and len(g0) == (H // 2) * (W // 2)
    # the same frame again (the hand-made views are not mutually consistent): the cache doubles
    g1, _ = build_cache(rgb[:1], depth[:1], K[:1], w2c[:1], cfg, backend="torch", init=g0)
    assert len(g1) == 2 * len(g0) and torch.equal(g1.means[: len(g0)], g0.means)


def test_render_mask_rejects_only_mixed_pixels_at_the_depth_edge():
    from worldwarp.geometry.cameras import Cameras

    rgb, depth, K, w2c = _scene()
    g, _ = build_cache(rgb[:1], depth[:1], K[:1], w2c[:1], SplatConfig(steps=0), backend="torch")
    cams = Cameras(K[[0, 0]], w2c[[0, 0]], W, H)
    out = render(g, cams, backend="torch", batch=1, depth_tolerance=0.05)
    assert out.rgb.shape == (2, H, W, 3) and out.mask.dtype == torch.bool
    # the near box's splat tails (in FRONT of the background) leave a <= 3 px band of mixed pixels outside it
    band = torch.zeros(H, W, dtype=torch.bool)
    band[10 - 3 : 22 + 3, 16 - 3 : 32 + 3] = True
    band[10:22, 16:32] = False
    rejected = ~out.mask[0]
    assert not rejected[~band].any()
    assert rejected[band].float().mean() > 0.5
    no_spread = render(g, cams[0], backend="torch", depth_tolerance=0.0)
    assert no_spread.mask.all()  # alpha alone: the source view is fully covered


def test_render_budget_sets_cameras_per_call_and_changes_no_pixel(monkeypatch):
    """The warp's memory bound (the run's render_budget): fewer cameras per rasteriser call as the cache grows,
    never fewer than one, and each camera's render, depth, alpha and mask are the same bits whatever the batch."""
    import worldwarp.splat.cache as cache
    from worldwarp.geometry.cameras import Cameras

    rgb, depth, K, w2c = _scene()
    g = init_from_rgbd(rgb[:1], depth[:1], K[:1], w2c[:1])
    n = len(g)
    cams = Cameras(K[:1].repeat(11, 1, 1), w2c[:1].repeat(11, 1, 1).clone(), W, H)
    cams.w2c[:, 0, 3] = torch.linspace(-0.3, 0.3, 11)
    calls = []
    real = cache.rasterize
    monkeypatch.setattr(cache, "rasterize", lambda g, K, *a, **k: calls.append(len(K)) or real(g, K, *a, **k))
    full = render(g, cams)  # no budget: 8 cameras a call
    outs = {}
    for budget, sizes in ((None, [8, 3]), (3 * n, [3, 3, 3, 2]), (3 * n - 1, [2] * 5 + [1]), (1, [1] * 11),
                          (100 * n, [8, 3])):
        calls.clear()
        outs[budget] = render(g, cams, budget=budget)
        assert calls == sizes, budget
        for a, b in zip(outs[budget], full):
            assert torch.equal(a, b)
