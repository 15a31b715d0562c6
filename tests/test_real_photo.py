"""Real-photo benchmark (Middlebury Motorcycle via scikit-image): calibration, occlusions, masked SSIM, end to end."""

import json
import subprocess

import numpy as np
import pytest
import torch

from conftest import BIN, ROOT, cli_env
from worldwarp.geometry.cameras import project, unproject
from worldwarp.metrics.image import ssim
from worldwarp.realphoto import (covisibility, load_motorcycle, lr_occlusion, masked_ssim, right_disparity,
                                 stereo_trajectory)


@pytest.fixture(scope="module")
def pair():
    return load_motorcycle(1)


@pytest.fixture(scope="module")
def cov(pair):
    return covisibility(pair.disparity)


def test_calibration_reprojects_onto_the_matching_pixel(pair, cov):
    assert (pair.height, pair.width) == (496, 736)  # 500 x 741 cropped to multiples of 16
    z = pair.depth()
    ok = np.isfinite(z)
    assert 0.9 < ok.mean() and 1.5 < np.nanmin(z) and np.nanmax(z) < 6.0  # metres: a garage scene
    # left view: disparity -> depth -> 3D -> right camera lands on x - d, same row
    pts = unproject(torch.from_numpy(np.nan_to_num(z, nan=1.0)), pair.K("left"), pair.w2c("left"))
    uv, zr = project(pts, pair.K("right"), pair.w2c("right"))
    u, v = np.meshgrid(np.arange(pair.width) + 0.5, np.arange(pair.height) + 0.5)
    assert np.abs(uv[..., 0].numpy() - (u - pair.disparity))[ok].max() < 1e-2
    assert np.abs(uv[..., 1].numpy() - v)[ok].max() < 1e-2
    assert np.allclose(zr.numpy()[ok], z[ok], rtol=1e-5)  # pure x-translation: same z-depth
    # right view, with its own disparity: depth -> 3D -> left camera lands where the left disparity agrees
    dr = cov.disparity_right
    zr_true = pair.depth(dr)
    pts = unproject(torch.from_numpy(np.nan_to_num(zr_true, nan=1.0)), pair.K("right"), pair.w2c("right"))
    uv_l, _ = project(pts, pair.K("left"), pair.w2c("left"))
    seen = cov.covisible
    x_l = uv_l[..., 0].numpy()
    assert np.abs(x_l - (u + np.nan_to_num(dr)))[seen].max() < 1e-2
    j = np.clip(np.floor(x_l).astype(int), 0, pair.width - 1)
    dl = pair.disparity[np.arange(pair.height)[:, None], j]
    assert np.nanmax(np.abs(dl - dr)[seen]) <= 1.0  # within 1 px on every co-visible pixel
    # and the real images agree there: the right sign and principal points (a 3 px slip or the mirrored
    # baseline is far worse)
    rows = np.arange(pair.height)[:, None]

    def photometric(x):
        x = np.clip(np.floor(x).astype(int), 0, pair.width - 1)
        return np.abs(pair.right - pair.left[rows, x]).mean(-1)[seen].mean()

    good = photometric(x_l)
    assert good < 0.03 and photometric(x_l + 3) > 2 * good and photometric(u - np.nan_to_num(dr)) > 4 * good


def test_trajectory_ends_at_the_right_camera(pair):
    cams = stereo_trajectory(pair, 5)
    assert torch.equal(cams.K[0], pair.K("left")) and torch.allclose(cams.K[-1], pair.K("right"))
    assert torch.allclose(cams.w2c[-1], pair.w2c("right"))
    assert torch.allclose(cams.centers[:, 0], torch.linspace(0, pair.baseline, 5))  # the right camera is at +x


def _synthetic():
    """Background at disparity 5, a box at 15 in front: rows 20-39, left columns 40-59 (right columns 25-44)."""
    H, W = 60, 100
    dl = np.full((H, W), 5.0, np.float32)
    dl[20:40, 40:60] = 15.0
    dr = np.full((H, W), 5.0, np.float32)
    dr[20:40, 25:45] = 15.0
    occ = np.zeros((H, W), bool)
    occ[20:40, 45:55] = True  # background behind the box's right side: only the right camera sees it
    occ[:, 95:] = True  # beyond the left image's right edge
    return dl, dr, occ


def test_occlusions_of_a_known_occluder():
    dl, dr, occ = _synthetic()
    assert np.array_equal(lr_occlusion(dl, dr), occ)
    fw = right_disparity(dl)
    assert np.array_equal(np.isnan(fw), occ) and np.array_equal(fw[~occ], dr[~occ])
    c = covisibility(dl)
    assert np.array_equal(c.occluded, occ) and not c.unknown.any() and np.array_equal(c.covisible, ~occ)
    # unmeasured left pixels: what only they decide is unknown, never occluded or co-visible
    dl[0:10, 10:20] = np.nan
    c = covisibility(dl)
    assert c.unknown[0:10, 5:15].all() and not c.unknown[10:].any() and np.array_equal(c.occluded, occ)
    assert np.array_equal(c.covisible | c.unknown, ~occ)


def test_occlusions_of_the_real_pair(pair, cov):
    # measured on 2026-11-25: occluded 0.116, unknown 0.049, co-visible 0.835 (full size)
    assert 0.09 < cov.occluded.mean() < 0.14 and cov.unknown.mean() < 0.07 and cov.covisible.mean() > 0.8
    assert cov.occluded[:, -10:].mean() > 0.95  # the right camera sees past the left image's right edge
    assert cov.occluded[:, :200].mean() < 0.08  # the left part is mostly seen by both
    assert not (cov.occluded & cov.covisible).any() and np.all(cov.occluded | cov.covisible | cov.unknown)


def test_masked_ssim(pair):
    a, b = pair.left[::4, ::4].copy(), pair.left[::4, ::4].copy()
    ones = np.ones(a.shape[:2], bool)
    assert masked_ssim(a, b, ones) == pytest.approx(1.0, abs=1e-6)
    b[:, : a.shape[1] // 2] = np.random.default_rng(0).random(b[:, : a.shape[1] // 2].shape)
    whole = float(ssim(torch.from_numpy(b)[None], torch.from_numpy(a)[None]))
    assert masked_ssim(b, a, ones) == pytest.approx(whole, abs=1e-4)  # the project's SSIM on every window
    right_half = np.zeros_like(ones)
    right_half[:, a.shape[1] // 2 + 6:] = True
    assert masked_ssim(b, a, right_half) == pytest.approx(1.0, abs=1e-6) and masked_ssim(b, a, ~right_half) < 0.2


def _bench(tmp_path, *sets):
    cmd = [str(BIN / "python"), str(ROOT / "benchmarks/real_photo.py"), "--params", str(ROOT / "params.yaml"),
           "--out", str(tmp_path), "--set", "device=cpu", *(a for s in sets for a in ("--set", s))]
    return subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)


def test_end_to_end_small(tmp_path):
    res = _bench(tmp_path, "real_photo.downscale=4", "real_photo.steps=10", "real_photo.frames=3")
    assert res.returncode == 0, res.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (m["pair"]["height"], m["pair"]["width"]) == (112, 176)
    r = m["measured"]
    # measured 2026-11-25 (2-core CPU): psnr 20.4, ssim 0.685, recall 0.43, precision 0.85, abs rel 0.020,
    # delta1 0.981. The left image itself as the right view scores psnr 13.2, ssim 0.19 on these pixels.
    assert r["psnr_covisible"] > 18.5 and r["ssim_covisible"] > 0.6
    assert r["hole_recall"] > 0.33 and r["hole_recall_wide"] > 0.5 and r["hole_precision"] > 0.7
    assert r["depth_abs_rel"] < 0.04 and r["depth_delta1"] > 0.95
    assert r["denoiser"] == "pushpull-inpaint" and (tmp_path / "panels/right_measured.png").is_file()
    d = m["model"]  # the random stand-in: estimation costs, visibly
    assert d["depth_source"].startswith("stand-in") and d["input_depth_abs_rel"] > 0.05
    assert d["depth_abs_rel"] > 2 * r["depth_abs_rel"] and d["psnr_covisible"] < r["psnr_covisible"]


def test_bad_knob_is_one_line(tmp_path):
    res = _bench(tmp_path, "real_photo.downscale=0")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "real_photo.downscale" in res.stderr
