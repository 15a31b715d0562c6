"""Warp quality of the cache on the procedural "room": seed from the exact RGB-D of view 0, optimise,
render nearby views and compare with the scene's exact render and exact disocclusion mask.

Numbers measured at 96x64, 250 torch-backend steps (deterministic on CPU), default mask (alpha >= 0.8,
relative depth spread <= 0.2): view 0 PSNR 33.7 dB (alpha mask), depth median rel. error 4.7 % (all
pixels); truck right 0.1 m / 0.2 m: PSNR on the mask 25.8 / 25.8 dB, hole recall 0.66 / 0.80, precision
0.27 / 0.49. At 256x160 (100 steps) recall is 0.83-0.95 with precision 0.62-0.75 on room/garden moves
(docs/BENCHMARKS.md): at 96x64 a disocclusion is only a pixel or two wide, and splat tails cover it.
"""

import pytest
import torch

from worldwarp import scenes
from worldwarp.config.camera import TrajectoryConfig
from worldwarp.config.splat import SplatConfig
from worldwarp.geometry.trajectory import make_trajectory
from worldwarp.splat import build_cache, render

W, H, STEPS = 96, 64, 250


def _psnr(a, b, m) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean(-1)[m].mean()))


@pytest.fixture(scope="module")
def fitted():
    scene = scenes.make_scene("room")
    cams = make_trajectory(TrajectoryConfig(preset="truck_right", distance=0.2), 5, W, H, scene.start_pose())
    rgb, depth = scene.render(cams)
    g, losses = build_cache(rgb[:1], depth[:1], cams.K[:1], cams.w2c[:1], SplatConfig(steps=STEPS), backend="torch")
    return scene, cams, rgb, depth, g, losses


@pytest.mark.slow
def test_cache_reproduces_the_source_view(fitted):
    scene, cams, rgb, depth, g, losses = fitted
    assert sum(losses[-10:]) < 0.1 * sum(losses[:10])
    out = render(g, cams[0], backend="torch", alpha_threshold=0.5, depth_tolerance=0.0)
    m = out.mask[0]
    assert m.float().mean() > 0.99
    # the default mask (alpha >= 0.8, spread <= 0.2) is stricter: it gives up 15 % of the source view at
    # 96x64 (grazing floor and ceiling mix depths within a pixel), 5 % at 256x160
    assert render(g, cams[0], backend="torch").mask[0].float().mean() > 0.8
    p = _psnr(out.rgb[0], rgb[0], m)
    rel = ((out.depth[0] - depth[0]).abs() / depth[0])[m].median()
    print(f"view 0: PSNR {p:.2f} dB, depth median rel err {rel:.4f}")
    assert p >= 32.0
    # expected depth blends neighbouring splats: on grazing floors/walls at 96x64 that is a few % over
    # all pixels; on the validity mask (depth spread <= 5 %) it is 2.49-2.51 % (measured with 1 and 2 CPU threads:
    # float sums in the optimisation differ with the thread count, so the bound leaves room for that)
    assert rel < 0.05
    strict = render(g, cams[0], backend="torch", depth_tolerance=0.05).mask[0]
    assert ((out.depth[0] - depth[0]).abs() / depth[0])[strict].median() < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("j, min_recall, min_precision", [(2, 0.6, 0.2), (4, 0.75, 0.4)])
def test_warp_into_a_nearby_view(fitted, j, min_recall, min_precision):
    scene, cams, rgb, depth, g, _ = fitted
    out = render(g, cams[j], backend="torch")
    m = out.mask[0]
    dis = scene.disocclusion_mask(cams[0], cams[j])[0]
    hole = ~m
    recall = float((hole & dis).sum() / dis.sum())
    precision = float((hole & dis).sum() / hole.sum())
    p = _psnr(out.rgb[0], rgb[j], m)
    print(f"view {j}: PSNR on mask {p:.2f} dB, coverage {m.float().mean():.3f}, recall {recall:.3f}, precision {precision:.3f}")
    assert dis.sum() > 100  # the motion really opens disocclusions
    assert p >= 25.0
    assert recall >= min_recall and precision >= min_precision
