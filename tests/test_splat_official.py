"""The authors' 3DGS recipe and validity mask (profile: official): seeding caps, SH degree 3, the Adam groups,
the inverse-depth term, the geometric validity mask, erosion, determinism and the warp's accuracy."""

import math

import pytest
import torch

from worldwarp.config import load_params
from worldwarp.config.camera import TrajectoryConfig
from worldwarp.config.profiles import PROFILES
from worldwarp.geometry.cameras import Cameras, intrinsics_from_fov
from worldwarp.geometry.trajectory import make_trajectory
from worldwarp.scenes import make_scene
from worldwarp.splat import (
    Sources, build_cache, erode, geometric_validity, init_from_rgbd, init_kwargs, inverse_depth_l1, load_ply,
    optimize, rgb_to_sh, save_ply, warp,
)
from worldwarp.splat.optimize import make_adam

W, H = 48, 32
OFFICIAL = load_params(None, ["profile=official"]).splat
LONGSHOT = load_params(None, ["profile=longshot"]).splat


def _plane(depth: float = 3.0, views: int = 2):
    """``views`` identical fronto-parallel views of a textured plane at z = depth."""
    K = intrinsics_from_fov(W, H, 60)[None].repeat(views, 1, 1)
    w2c = torch.eye(4)[None].repeat(views, 1, 1)
    v, u = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    rgb = torch.stack([0.5 + 0.4 * torch.sin(6 * u), 0.5 + 0.4 * torch.cos(5 * v), 0.5 + 0.3 * u * v], -1)
    return rgb[None].repeat(views, 1, 1, 1), torch.full((views, H, W), depth), K, w2c


def test_official_profile_holds_the_recipe():
    s = PROFILES["official"]["splat"]
    assert OFFICIAL.sh_degree == 3 and OFFICIAL.init_opacity == 0.9999 and OFFICIAL.init_scale == "knn"
    assert (OFFICIAL.max_points_per_frame, OFFICIAL.max_points) == (50_000, 1_000_000)
    assert OFFICIAL.mask == "official" and OFFICIAL.mask_erosion == 15 and OFFICIAL.mask_threshold == 0.5
    assert OFFICIAL.lambda_depth == 0.01 and OFFICIAL.steps == 500 and OFFICIAL.lambda_dssim == 0.2
    # the longshot profile keeps the section defaults: none of the official values leak into it
    assert all(getattr(LONGSHOT, k) != v for k, v in s.items())
    explicit = load_params(None, ["profile=official", "splat.sh_degree=1"]).splat
    assert explicit.sh_degree == 1 and explicit.mask == "official"


def test_official_init_honours_the_per_frame_and_total_caps():
    rgb, depth, K, w2c = _plane(views=3)
    kw = init_kwargs(OFFICIAL) | {"max_points_per_frame": 100, "max_points": 0}
    g = init_from_rgbd(rgb, depth, K, w2c, seed=1, **kw)
    assert len(g) == 300  # 3 frames x 100 random pixels (no de-duplication in their recipe)
    same = init_from_rgbd(rgb, depth, K, w2c, seed=1, **kw)
    other = init_from_rgbd(rgb, depth, K, w2c, seed=2, **kw)
    assert torch.equal(g.means, same.means) and not torch.equal(g.means, other.means)
    capped = init_from_rgbd(rgb, depth, K, w2c, seed=1, **(kw | {"max_points": 120}))
    assert 0 < len(capped) <= 120
    # voxel averaging keeps points on the surface: every capped point still lies on the plane z = 3
    assert torch.allclose(capped.means[:, 2], torch.full((len(capped),), 3.0), atol=1e-5)
    # min_depth: a plane at z = 0.5 lies under the authors' 0.8 threshold and seeds nothing but the nearer part
    near = depth.clone()
    near[:, :, : W // 2] = 0.5
    g_near = init_from_rgbd(rgb, near, K, w2c, seed=1, **(kw | {"max_points_per_frame": 0}))
    assert len(g_near) == 3 * H * (W - W // 2)


def test_official_init_sh3_opacity_quats_and_knn_scales():
    rgb, depth, K, w2c = _plane(views=1)
    g = init_from_rgbd(rgb, depth, K, w2c, seed=0, **init_kwargs(OFFICIAL))
    assert len(g) == H * W and g.sh.shape == (H * W, 16, 3) and g.sh_degree == 3
    assert torch.equal(g.sh[:, 1:], torch.zeros(H * W, 15, 3))
    assert torch.allclose(g.sh[:, 0], rgb_to_sh(rgb[0].reshape(-1, 3)), atol=1e-5)
    assert torch.allclose(torch.sigmoid(g.opacities), torch.full((H * W,), 0.9999))
    assert torch.equal(g.quats, torch.tensor([1.0, 0, 0, 0]).expand(H * W, 4))
    # a fronto-parallel plane seeds a square grid of pitch z / f: the 3 nearest neighbours of any point are at
    # distances {p, p, p} (interior) or {p, p, p*sqrt(2)} (corner), so the scale is p or p * sqrt(4/3)
    p = 3.0 / float(K[0, 0, 0])
    s = g.scales[:, 0].exp()
    assert torch.allclose(s.median(), torch.tensor(p), rtol=1e-4)
    assert float(s.max()) <= p * math.sqrt(4 / 3) * (1 + 1e-4)
    # the authors unproject pixel (x, y) at x, not x + 0.5: pixel (0, 0) lands at (-cx, -cy) * z / f
    x0 = (0.0 - float(K[0, 0, 2])) / float(K[0, 0, 0]) * 3.0
    assert math.isclose(float(g.means[:, 0].min()), x0, rel_tol=1e-5)


def test_official_ply_round_trip_has_sh3_properties(tmp_path):
    rgb, depth, K, w2c = _plane(views=1)
    g = init_from_rgbd(rgb, depth, K, w2c, seed=0, **init_kwargs(OFFICIAL))
    g.sh[:, 1:] = torch.randn(len(g), 15, 3)
    save_ply(tmp_path / "c.ply", g)
    from plyfile import PlyData

    names = [p.name for p in PlyData.read(str(tmp_path / "c.ply"))["vertex"].properties]
    assert "f_rest_44" in names and "f_rest_45" not in names and "f_dc_2" in names
    back = load_ply(tmp_path / "c.ply")
    for k, t in g.tensors().items():
        assert torch.equal(getattr(back, k), t), k


def _params(n: int = 4, k: int = 16) -> dict[str, torch.Tensor]:
    z = lambda *s: torch.zeros(*s, requires_grad=True)  # noqa: E731
    return {"means": z(n, 3), "scales": z(n, 3), "quats": z(n, 4), "opacities": z(n), "sh_dc": z(n, 1, 3),
            "sh_rest": z(n, k - 1, 3)}


def test_adam_groups_match_the_recipe():
    opt = make_adam(_params(), OFFICIAL, extent=7.0)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"means": 1.6e-3, "scales": 5e-3, "quats": 1e-3, "opacities": 5e-2,
                                 "sh_dc": 2.5e-3, "sh_rest": 2.5e-3 / 20})  # scene_scale 1.0: extent ignored
    assert opt.defaults["eps"] == 1e-15
    ours = {g["name"]: g["lr"] for g in make_adam(_params(), LONGSHOT, extent=7.0).param_groups}
    assert ours["means"] == pytest.approx(1.6e-4 * 7.0)


def test_inverse_depth_term_by_hand():
    pred = torch.tensor([[2.0, 0.0], [4.0, 1.0]], requires_grad=True)
    target = torch.tensor([[1.0, 2.0], [0.0, 4.0]])
    # valid targets: (0,0) (0,1) (1,1); disparities pred 1/2, 0 (nothing rendered), 1; target 1, 1/2, 1/4
    loss = inverse_depth_l1(pred[None], target[None])
    assert float(loss.detach()) == pytest.approx((0.5 + 0.5 + 0.75) / 3)
    loss.backward()
    # d/dp |1/p - t| = -sign(1/p - t) / p^2 / 3: (0,0) -> +1/12, (1,1) -> -1/3; pred 0 and the invalid pixel -> 0
    assert torch.allclose(pred.grad, torch.tensor([[1 / 12, 0.0], [0.0, -1 / 3]]))
    assert float(inverse_depth_l1(pred[None], torch.zeros(1, 2, 2)).detach()) == 0.0


def test_erosion_grows_a_hole_by_7_px_and_erodes_the_border():
    m = torch.ones(1, 64, 80, dtype=torch.bool)
    m[0, 30:40, 35:45] = False  # a 10 x 10 hole
    e = erode(m, 15)
    expect = torch.zeros(64, 80, dtype=torch.bool)
    expect[7:-7, 7:-7] = True  # zero padding: the 7-px border erodes
    expect[23:47, 28:52] = False  # the hole grows by exactly 7 px each side
    assert torch.equal(e[0], expect)
    assert torch.equal(erode(m, 1), m)


@pytest.fixture(scope="module")
def room():
    """The room at 64 x 96: 2 source views, a nearby target (view 3) and a farther one (view 8)."""
    scene = make_scene("room")
    cams = make_trajectory(TrajectoryConfig(preset="truck_right", distance=1.0), 9, 96, 64, scene.start_pose())
    rgb, depth = scene.render(cams)
    src, tgt = cams[:2], Cameras(cams.K[[3, 8]], cams.w2c[[3, 8]], cams.width, cams.height)
    dis = scene.disocclusion_mask(src, tgt)
    return cams, rgb, depth, tgt, dis


def test_geometric_validity_flags_disocclusions_and_keeps_visible_surface(room):
    cams, rgb, depth, tgt, dis = room
    # the target's exact depth stands in for the rendered depth: this isolates the geometric test
    geo = geometric_validity(depth[[3, 8]], tgt.K, tgt.w2c, depth[:2], cams.K[:2], cams.w2c[:2], tolerance=0.1,
                             pixel_offset=0.5)
    assert dis.any()
    recall = float((~geo & dis).sum() / dis.sum())
    visible_valid = float(geo[~dis].float().mean())
    assert recall >= 0.9, recall  # measured 0.961 (0.954 with the authors' pixel_offset 0)
    assert visible_valid >= 0.97, visible_valid  # measured 0.991 (0.971): misses sit at depth edges
    # a stricter tolerance can only invalidate more
    strict = geometric_validity(depth[[3, 8]], tgt.K, tgt.w2c, depth[:2], cams.K[:2], cams.w2c[:2], tolerance=1e-4)
    assert (strict <= geo).all() and strict.sum() < geo.sum()


def test_official_optimisation_repeats_with_the_seed():
    rgb, depth, K, w2c = _plane(views=2)
    depth[1, 8:20, 10:30] = 2.0  # something for the depth term to see
    cfg = OFFICIAL.model_copy(update={"steps": 6, "max_points_per_frame": 400})
    a, la = build_cache(rgb, depth, K, w2c, cfg, backend="torch", seed=5)
    b, lb = build_cache(rgb, depth, K, w2c, cfg, backend="torch", seed=5)
    c, lc = build_cache(rgb, depth, K, w2c, cfg, backend="torch", seed=6)
    assert la == lb and len(la) == 6
    for name, t in a.tensors().items():
        assert torch.equal(t, getattr(b, name)), name
    assert len(a) == 800 and not torch.equal(a.means, c.means)
    g0 = init_from_rgbd(rgb, depth, K, w2c, seed=5, **init_kwargs(cfg))
    no_depth, ln = optimize(g0, rgb, K, w2c, steps=6, cfg=cfg.model_copy(update={"lambda_depth": 0.0}),
                            backend="torch", seed=5)
    assert ln != la  # the inverse-depth term is part of the loss


def test_official_warp_into_a_nearby_view_matches_ground_truth(room):
    cams, rgb, depth, tgt, dis = room
    # 15 px of erosion at 480 rows is 3 px at 64 rows (benchmarks/profiles.py scales it the same way)
    cfg = OFFICIAL.model_copy(update={"steps": 20, "mask_erosion": 3})
    g, losses = build_cache(rgb[:2], depth[:2], cams.K[:2], cams.w2c[:2], cfg, backend="torch", seed=0)
    assert sum(losses[-5:]) < sum(losses[:5])
    out = warp(g, tgt, cfg, Sources(depth[:2], cams.K[:2], cams.w2c[:2]), backend="torch")
    m = out.mask[0]
    coverage = float(m.float().mean())
    psnr = 10 * math.log10(1 / float(((out.rgb[0] - rgb[3]) ** 2).mean(-1)[m].mean()))
    recall = float((~m & dis[0]).sum() / dis[0].sum())
    # measured: coverage 0.32, PSNR 23.0 dB, recall 0.997 (24.0 dB at 40 steps). At 64 x 96 many pixels of the room sit
    # within a pixel or two of a depth edge, where the rendered expected depth blends layers and fails the 10 %
    # geometric test: the official mask is conservative here (see docs/BENCHMARKS.md for larger sizes)
    assert coverage >= 0.2, coverage
    assert psnr >= 22.0, psnr
    assert recall >= 0.95, recall
