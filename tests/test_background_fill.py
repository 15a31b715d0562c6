"""The depth-aware classical filler (diffusion.classical_fill=depth_aware): disocclusions take the farther surface,
cracks their own surface, one colour per 3D point across a chunk's frames, deterministic."""

import numpy as np
import pytest
import torch

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import FillGeometry, make_denoiser, needs_geometry
from worldwarp.diffusion.background_fill import (_source_points, _sources_in_frame, directional_candidates,
                                                 fill_background, fill_chunk, source_lookup)
from worldwarp.diffusion.classical import DepthAwareFiller, push_pull_fill

H, W = 48, 80
BG, FG = np.array([0.2, 0.6, 0.3]), np.array([0.9, 0.1, 0.1])


def _scene():
    """A red box at 1 m (columns 20-39) in front of a green wall at 4 m, stripes on the wall; a disocclusion
    hole right of the box (columns 40-51) and a crack inside the box (rows 20-23, columns 26-33)."""
    rgb = np.broadcast_to(BG, (H, W, 3)).copy()
    rgb[:, ::4] *= 0.9  # texture, so that "the wall's colour" is a mean, not a constant
    z = np.full((H, W), 4.0)
    rgb[:, 20:40], z[:, 20:40] = FG, 1.0
    valid = np.ones((H, W), bool)
    valid[:, 40:52] = False
    valid[20:24, 26:34] = False
    return rgb, z, valid


def test_candidates_are_the_first_valid_pixel_each_way():
    valid = np.zeros((5, 7), bool)
    valid[2, 0] = valid[2, 6] = valid[0, 3] = valid[4, 5] = True
    idx, dist = directional_candidates(valid)
    # from (2, 3): left (2, 0), right (2, 6), up (0, 3), down none, down-right (4, 5) at 2 * sqrt(2)
    assert (idx[0, 2, 3], idx[1, 2, 3], idx[2, 2, 3], idx[3, 2, 3], idx[5, 2, 3]) == (14, 20, 3, -1, 33)
    assert dist[0, 2, 3] == 3 and np.isinf(dist[3, 2, 3]) and dist[5, 2, 3] == pytest.approx(2 * 2 ** 0.5)


def test_disocclusion_takes_the_wall_and_a_crack_its_box():
    rgb, z, valid = _scene()
    filled, fz = fill_background(rgb, z, valid)
    hole = ~valid
    hole[20:24, 26:34] = False
    wall = rgb[:, 52:].reshape(-1, 3).mean(0)
    err = np.abs(filled[hole] - wall).max()
    assert err < 0.05 and np.allclose(fz[hole], 4.0)  # the wall's colour and depth, nothing of the red box
    assert np.allclose(filled[20:24, 26:34], FG) and np.allclose(fz[20:24, 26:34], 1.0)
    # push-pull, depth-blind, drags the box across the hole: a red halo (measured: 0.23 in red on average)
    pp = push_pull_fill(torch.from_numpy(rgb).permute(2, 0, 1)[None].float(),
                        torch.from_numpy(valid.astype(np.float32))[None, None])[0].permute(1, 2, 0).numpy()
    assert (pp[hole][:, 0] - wall[0]).mean() > 0.1 and (filled[hole][:, 0] - wall[0]).mean() < 0.02
    assert np.array_equal(filled[valid], rgb[valid])


def _chunk():
    """Three frames of a static camera looking at _scene, the hole growing frame by frame (as along a path)."""
    rgb, z, valid = _scene()
    K = np.array([[60.0, 0, W / 2], [0, 60, H / 2], [0, 0, 1]])
    frames = np.stack([rgb] * 3).astype(np.float32)
    valids = np.stack([np.ones_like(valid), valid, valid])
    valids[1, :, 46:52] = True  # frame 1's hole is part of frame 2's
    frames[~valids] = 0.0
    zs = np.stack([z] * 3) * valids
    alpha = valids.astype(np.float64)
    return frames, valids, zs, np.stack([K] * 3), np.stack([np.eye(4)] * 3), alpha


def test_a_chunk_fills_each_3d_point_once_and_deterministically():
    frames, valids, zs, K, w2c, alpha = _chunk()
    steps = np.zeros(valids.shape, np.int8)
    out = fill_chunk(frames, valids, zs, K, w2c, alpha, history=1, steps=steps)
    both = ~valids[1] & ~valids[2]
    assert both.sum() > 100 and np.array_equal(out[1][both], out[2][both])  # the same points, the same colours
    assert (steps[1:][~valids[1:]] == 1).all()  # a static camera: the history frame saw every hole's surface
    again = fill_chunk(frames, valids, zs, K, w2c, alpha, history=1)
    assert np.array_equal(out, again) and np.array_equal(out[0], frames[0])


def test_the_denoiser_needs_the_geometry_and_keeps_valid_pixels():
    den = make_denoiser(DiffusionConfig(classical_fill="depth_aware"))
    assert isinstance(den, DepthAwareFiller) and needs_geometry(den)
    frames, valids, zs, K, w2c, alpha = _chunk()
    w, m = torch.from_numpy(frames), torch.from_numpy(valids.astype(np.float32))
    with pytest.raises(ValueError, match="needs the warp's depth"):
        den(w, m, 1, seed=0)
    geo = FillGeometry(*(torch.from_numpy(x) for x in (zs, K, w2c, alpha)))
    res = den(w, m, 1, seed=0, geometry=geo)
    assert torch.equal(res.frames[m.bool()], w[m.bool()]) and res.latents == {}


def test_a_longshot_runs_with_the_depth_aware_filler(tmp_path):
    """The denoise stage hands the filler the warp's depth/opacity and the chunk's cameras (two chunks: the
    second's history frames are the first's last ones)."""
    from conftest import TINY
    from stages.runner import run_longshot
    from stages.warp import read_render
    from worldwarp.config import load_params

    cfg = load_params(None, [*TINY, "chunk.count=2", "chunk.frames=5", "chunk.history=2", "splat.steps=2",
                             "resolution.height=32", "resolution.width=48",
                             f"artifacts={tmp_path}", "tracking.mlflow=false",
                             "store.keep_renders=true", "diffusion.classical_fill=depth_aware"])
    store = run_longshot(cfg, "r")
    for k in (0, 1):
        assert store.stage_attrs(k, "frames")["denoiser"] == "depth-aware-inpaint"
        rgb, mask = read_render(store, k), store.read_array(k, "warp", "mask").astype(bool)
        out = store.read_array(k, "frames", "rgb")
        assert np.array_equal(out[mask], np.clip(rgb, 0, 1)[mask]) and np.isfinite(out).all()


def _jitter_chunk(F=9):
    """A static camera over a textured wall; the hole's pixels keep some opacity (0.5) and the render there is
    noisy, differently every frame: the render's partial pixels, which the filler composites over its fill and
    re-renders each frame. The history frame has no depth on the hole (as where a depth model gives none), so no
    source colour is looked up there."""
    rng = np.random.default_rng(0)
    rgb = rng.random((H, W, 3)).astype(np.float32) * 0.6 + 0.2
    K = np.array([[60.0, 0, W / 2], [0, 60, H / 2], [0, 0, 1]])
    valid = np.ones((F, H, W), bool)
    valid[1:, 12:36, 20:44] = False
    noise = rng.uniform(-0.15, 0.15, (F, H, W, 3)).astype(np.float32)
    alpha = np.where(valid, 1.0, 0.5)
    frames = np.where(valid[..., None], rgb, 0.5 * (rgb + noise)).astype(np.float32)
    zs = np.full((F, H, W), 4.0)
    zs[0, 12:36, 20:44] = 0.0
    return frames, valid, zs, np.stack([K] * F), np.stack([np.eye(4)] * F), alpha


def _flicker(out: np.ndarray, valid: np.ndarray) -> float:
    both = ~valid[1:] & ~valid[:-1]
    both[0] = False  # frame 0 is the history
    return float(np.abs(out[1:] - out[:-1]).mean(-1)[both].mean())


def test_temporal_smoothing_of_the_depth_aware_fill():
    """diffusion.temporal_smoothing reaches the depth-aware filler: 0 is the plain per-point fill, 0.5 flickers
    less inside the holes, valid pixels are kept either way."""
    frames, valids, zs, K, w2c, alpha = _jitter_chunk()
    w, m = torch.from_numpy(frames), torch.from_numpy(valids.astype(np.float32))
    geo = FillGeometry(*(torch.from_numpy(x) for x in (zs, K, w2c, alpha)))
    plain = make_denoiser(DiffusionConfig(classical_fill="depth_aware", temporal_smoothing=0.0))
    smooth = make_denoiser(DiffusionConfig(classical_fill="depth_aware"))
    assert plain.beta == 0.0 and smooth.beta == 0.5
    a = plain(w, m, 1, seed=0, geometry=geo).frames.numpy()
    b = smooth(w, m, 1, seed=0, geometry=geo).frames.numpy()
    assert np.array_equal(a, fill_chunk(frames, valids, zs, K, w2c, alpha, history=1).clip(0, 1))
    assert np.array_equal(b[valids], frames[valids]) and np.array_equal(b[0], frames[0])
    # measured: 0.050 plain, 0.020 smoothed (an exponential average of the noisy renders)
    assert _flicker(b, valids) < 0.6 * _flicker(a, valids)
    with pytest.raises(ValueError, match="temporal_smoothing"):
        DepthAwareFiller(temporal_smoothing=1.0)


PILLAR_K = np.array([[60.0, 0, W / 2], [0, 60, H / 2], [0, 0, 1]])


def _pillar_view(cx: float):
    """A red pillar (world x in [-0.3, 0.1], z = 1 m) before a wall at z = 4 m whose colour varies smoothly with
    world x, seen exactly by a camera at x = cx looking down +z: rgb, z-depth, and where the wall pixel is one the
    camera at the origin saw too."""
    K = PILLAR_K
    wall = lambda x: np.clip(BG[None] * (0.8 + 0.2 * np.sin(2 * np.pi * x / 0.4))[:, None], 0, 1)  # noqa: E731
    d = (np.arange(W) + 0.5 - K[0, 2]) / K[0, 0]  # ray x per unit z
    xp = cx + d  # where the ray meets z = 1
    pillar = (xp >= -0.3) & (xp <= 0.1)
    z = np.where(pillar, 1.0, 4.0)
    col = np.where(pillar[:, None], FG[None], wall(cx + 4 * d))
    xw = cx + 4 * d
    return np.broadcast_to(col, (H, W, 3)), np.broadcast_to(z, (H, W)), np.broadcast_to(~pillar & (
        (xw / 4 < -0.3) | (xw / 4 > 0.1)), (H, W))


def _parallax_pair(tx=0.15):
    """_pillar_view from the history camera at the origin and from one moved tx to the right (w2c = [I | -t]).
    Holes of the new frame: the wall the pillar hid from the history camera (a disocclusion) and a crack of wall
    pixels the history camera saw (rows 10-13, columns 60-65)."""
    K = PILLAR_K
    render = _pillar_view

    rgb0, z0, _ = render(0.0)
    rgb1, z1, seen1 = render(tx)
    valid1 = (z1 == 1.0) | seen1
    crack = np.zeros((H, W), bool)
    crack[10:14, 60:66] = True
    assert seen1[crack].all() and (~valid1).sum() > 4 * H
    valid1 = valid1 & ~crack
    frames = np.stack([rgb0, rgb1 * valid1[..., None]]).astype(np.float32)
    valids = np.stack([np.ones((H, W), bool), valid1])
    zs = np.stack([z0, z1 * valid1])
    w2c = np.stack([np.eye(4)] * 2)
    w2c[1, 0, 3] = -tx
    return frames, valids, zs, np.stack([K] * 2), w2c, valids.astype(np.float64), rgb1, crack


def test_holes_the_history_saw_take_its_colour_and_disocclusions_do_not():
    """source_lookup: a crack of wall the history frame saw takes the history's colour there (bilinear, the wall's
    smooth texture within 0.02); the wall the pillar hid is not looked up (the reprojection test fails: the history
    frame saw the pillar on those rays; only its last column, next to the wall and within the 0.75 px tolerance,
    is) and is filled from the wall's side: on average nothing of the red pillar (push-pull: a red halo)."""
    frames, valids, zs, K, w2c, alpha, truth, crack = _parallax_pair()
    steps = np.zeros(valids.shape, np.int8)
    out = fill_chunk(frames, valids, zs, K, w2c, alpha, history=1, steps=steps)
    looked = steps == 1
    disocc = ~valids[1] & ~crack
    last = np.flatnonzero(disocc.any(0)).max()
    assert looked[1][crack].all() and not (looked[1] & disocc)[:, :last].any()
    # every hole pixel is filled by exactly one step, nothing else is marked; one frame: no earlier points
    assert np.array_equal(steps[1] > 0, ~valids[1]) and not steps[0].any() and not (steps == 2).any()
    assert (steps[1][:, :last][disocc[:, :last]] == 3).all()  # the disocclusion (bar its last column): the 2D fill
    assert np.abs(out[1][crack] - truth[crack]).max() < 0.02
    pp = push_pull_fill(torch.from_numpy(frames[1]).permute(2, 0, 1)[None],
                        torch.from_numpy(valids[1].astype(np.float32))[None, None])[0].permute(1, 2, 0).numpy()
    # measured: 0.032 depth-aware (the pyramid leaks a little of the pillar into one column), 0.25 push-pull
    assert (out[1][disocc][:, 0] - BG[0]).mean() < 0.05 and (pp[disocc][:, 0] - BG[0]).mean() > 0.15
    assert np.array_equal(out[1][valids[1]], frames[1][valids[1]])
    again = fill_chunk(frames, valids, zs, K, w2c, alpha, history=1)
    assert np.array_equal(out, again)


def test_later_frames_reuse_what_earlier_ones_invented_and_invent_only_what_they_open():
    """Three frames moving right past the pillar: frame 1 fills the wall it newly sees in 2D; frame 2 takes the
    part of it frame 1 filled from frame 1's points (one colour per 3D point) and fills in 2D only what it opens
    further; every hole pixel is filled by exactly one step."""
    views = [_pillar_view(cx) for cx in (0.0, 0.1, 0.2)]
    valids = np.stack([np.ones((H, W), bool)] + [(z == 1.0) | seen for _, z, seen in views[1:]])
    frames = np.stack([rgb * v[..., None] for (rgb, _, _), v in zip(views, valids)]).astype(np.float32)
    zs = np.stack([z * v for (_, z, _), v in zip(views, valids)])
    w2c = np.stack([np.eye(4)] * 3)
    w2c[1, 0, 3], w2c[2, 0, 3] = -0.1, -0.2
    steps = np.zeros(valids.shape, np.int8)
    out = fill_chunk(frames, valids, zs, np.stack([PILLAR_K] * 3), w2c, valids.astype(np.float64), history=1,
                     steps=steps)
    assert np.array_equal(steps > 0, ~valids)
    assert (steps[1] == 3).sum() > 2 * H and not (steps[1] == 2).any()  # nothing earlier to take from
    assert (steps[2] == 2).sum() > 2 * H and (steps[2] == 3).sum() > 2 * H  # reused, and newly opened
    # the reused pixels carry frame 1's colours: each is exactly a colour frame 1 gave a filled pixel of its row
    for y, x in zip(*np.nonzero(steps[2] == 2)):
        given = out[1][y][steps[1][y] > 0]
        assert np.abs(given - out[2][y, x]).max(-1).min() < 1e-6


def test_the_reprojection_test_is_in_pixels():
    """A candidate depth 5 % off on the crack is still seen (the wall is far: its point lands within the tolerance),
    the pillar's depth on the disoccluded wall is not; tol_px=0 sees nothing."""
    frames, valids, zs, K, w2c, alpha, truth, crack = _parallax_pair()
    hy, hx = np.nonzero(crack)
    pts = _source_points(zs[:1], K[:1], w2c[:1])
    at = _sources_in_frame(pts, K[1], w2c[1])
    src = frames[:1].astype(np.float64)
    for cz, expect in ((np.full((1, len(hy)), 4.0 * 1.05), True), (np.full((1, len(hy)), 1.0), False)):
        _, _, ok = source_lookup(src, at, K[:1], w2c[:1], K[1], w2c[1], hy, hx, cz, 0.75)
        assert ok.all() == expect and ok.any() == expect
    _, _, ok = source_lookup(src, at, K[:1], w2c[:1], K[1], w2c[1], hy, hx, np.full((1, len(hy)), 4.0), 0.0)
    assert not ok.any()
