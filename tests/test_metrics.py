"""Evaluation metrics: known values on constructed inputs."""

import json

import numpy as np
import pytest
import torch

from worldwarp.metrics import LpipsUnavailable, lpips_scorer, psnr, ssim, summarize, write_report


def test_psnr_matches_its_definition_and_respects_the_mask():
    a = torch.zeros(2, 8, 8, 3)
    b = torch.full((2, 8, 8, 3), 0.1)  # mse 0.01 -> 20 dB
    assert torch.allclose(psnr(a, b), torch.tensor([20.0, 20.0]), atol=1e-4)
    b2 = b.clone()
    b2[:, :, 4:] = 0.5  # masked out
    m = torch.zeros(2, 8, 8, dtype=torch.bool)
    m[:, :, :4] = True
    assert torch.allclose(psnr(a, b2, m), torch.tensor([20.0, 20.0]), atol=1e-4)
    assert psnr(a, b2).max() < 15


def test_ssim_is_one_for_identical_frames_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 48, 64, 3, generator=g)
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-5)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    s = ssim(noisy, x)
    assert (s < 0.9).all() and (s > 0).all()


def test_lpips_without_weights_is_a_notice_not_a_failure(tmp_path):
    with pytest.raises(LpipsUnavailable, match="LPIPS skipped"):
        lpips_scorer(None)
    with pytest.raises(LpipsUnavailable, match="alexnet.pth"):
        lpips_scorer(tmp_path)


def test_summary_reports_drift_between_first_and_last_quarter(tmp_path):
    n = 40
    cols = {"frame": np.arange(n), "psnr": np.linspace(30, 20, n), "rot_err_deg": np.full(n, np.nan)}
    cols["rot_err_deg"][::4] = 1.0
    s = summarize(cols)
    assert s["psnr_first"] > s["psnr_last"] + 5
    assert s["rot_err_deg"] == pytest.approx(1.0)
    paths = write_report(tmp_path, cols, ["LPIPS skipped: test"], {"name": "x"})
    data = json.loads(paths["json"].read_text())
    assert data["notices"] == ["LPIPS skipped: test"] and data["frames"] == n
    rows = paths["csv"].read_text().splitlines()
    assert rows[0] == "frame,psnr,rot_err_deg" and len(rows) == n + 1
    assert paths["png"].stat().st_size > 1000


def test_camera_error_of_a_degenerate_pair_is_missing_not_a_crash():
    """Matches that all sit on one point make OpenCV's 5-point solver fail an assertion (seen on garden_truck at few
    3DGS steps): that pair has no estimate (NaN in the errors, 0 inliers) and the evaluation goes on."""
    from worldwarp.metrics.camera import _estimate, relative_pose_errors

    pa = np.tile(np.array([[100.0, 80.0]]), (12, 1))  # every match of frame a on one point (raised before)
    pb = pa + np.random.default_rng(0).normal(size=(12, 2)) * 0.2
    K = np.array([[200.0, 0, 128], [0, 200.0, 80], [0, 0, 1]])
    assert _estimate(pa, pb, K, K) is None
    flat = np.full((8, 64, 96, 3), 0.5, np.float32)  # nothing to match: every pair is missing, none raises
    w2c = np.tile(np.eye(4), (8, 1, 1))
    w2c[:, 2, 3] = -np.arange(8) * 0.1
    err = relative_pose_errors(flat, np.tile(K, (8, 1, 1)), w2c, stride=4)
    assert np.isnan(err.rotation_deg).all() and (err.inliers == 0).all()
