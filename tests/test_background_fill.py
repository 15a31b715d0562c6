"""The depth-aware classical filler (diffusion.classical_fill=depth_aware): disocclusions take the farther surface,
cracks their own surface, one colour per 3D point across a chunk's frames, deterministic."""

import numpy as np
import pytest
import torch

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import FillGeometry, make_denoiser, needs_geometry
from worldwarp.diffusion.background_fill import directional_candidates, fill_background, fill_chunk
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
    out = fill_chunk(frames, valids, zs, K, w2c, alpha, history=1)
    both = ~valids[1] & ~valids[2]
    assert both.sum() > 100 and np.array_equal(out[1][both], out[2][both])  # the same points, the same colours
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
    noisy, differently every frame: the rims and cracks the filler takes from the render itself (divided by
    the opacity) and re-renders each frame, not from its one-colour-per-point fill."""
    rng = np.random.default_rng(0)
    rgb = rng.random((H, W, 3)).astype(np.float32) * 0.6 + 0.2
    K = np.array([[60.0, 0, W / 2], [0, 60, H / 2], [0, 0, 1]])
    valid = np.ones((F, H, W), bool)
    valid[1:, 12:36, 20:44] = False
    noise = rng.uniform(-0.15, 0.15, (F, H, W, 3)).astype(np.float32)
    alpha = np.where(valid, 1.0, 0.5)
    frames = np.where(valid[..., None], rgb, 0.5 * (rgb + noise)).astype(np.float32)
    zs = np.full((F, H, W), 4.0)
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
    # measured: 0.100 plain, 0.041 smoothed (an exponential average of the noisy renders)
    assert _flicker(b, valids) < 0.6 * _flicker(a, valids)
    with pytest.raises(ValueError, match="temporal_smoothing"):
        DepthAwareFiller(temporal_smoothing=1.0)
