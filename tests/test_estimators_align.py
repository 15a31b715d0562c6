"""Depth and pose alignment recover known scale / shift / Sim(3) offsets to tight tolerances."""

import math

import pytest
import torch
from scipy.spatial.transform import Rotation

from worldwarp.estimators import AlignmentError, align_depth, align_poses
from worldwarp.geometry.align import apply_sim3_to_w2c
from worldwarp.geometry.cameras import look_at


def _gt_depth(seed=0):
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    return 1.0 + 3.0 * x + 0.5 * torch.sin(6 * y) + 0.1 * torch.rand(48, 64, generator=g)  # metres, 0.5..4.6


def test_scale_in_depth_space():
    gt = _gt_depth()
    a = align_depth(gt / 2.5, gt, mode="scale", space="depth")
    assert abs(a.scale - 2.5) < 1e-6 and a.shift == 0.0
    assert a.residual < 1e-6 and torch.allclose(a.aligned, gt, rtol=1e-6)


def test_scale_shift_in_inverse_space_with_outliers_and_invalid_pixels():
    gt = _gt_depth(1)
    disparity = 0.3 / gt + 0.05  # Depth-Anything-like: affine in inverse depth
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[:4] = False  # e.g. holes of the cache
    disparity[:4] = -7.0  # garbage where invalid must not matter
    bad = torch.zeros_like(valid)
    bad[10:14, 10:30] = True  # 80 of 2816 valid pixels are outliers, trimmed before the refit
    disparity[bad] *= 3.0
    a = align_depth(disparity, gt, valid, mode="scale_shift", space="inverse")
    assert abs(a.scale - 1 / 0.3) < 1e-6 and abs(a.shift + 0.05 / 0.3) < 1e-6
    good = valid & ~bad
    assert torch.allclose(a.aligned[good], gt[good], rtol=1e-5)
    assert torch.isfinite(a.aligned).all() and (a.aligned > 0).all()  # positive finite metres everywhere
    assert 0.01 < a.residual < 1.0  # the residual is reported over all valid pixels, outliers included


def test_scale_shift_in_depth_space_and_errors():
    gt = _gt_depth(2)
    a = align_depth(0.5 * gt - 0.2, gt, mode="scale_shift", space="depth")
    assert abs(a.scale - 2.0) < 1e-6 and abs(a.shift - 0.4) < 1e-6 and a.residual < 1e-6
    with pytest.raises(AlignmentError, match="at least"):
        align_depth(gt, gt, torch.zeros_like(gt, dtype=torch.bool))
    with pytest.raises(AlignmentError, match="constant"):
        align_depth(torch.ones_like(gt), gt, mode="scale_shift")


def _trajectory(n=6):
    eyes = [torch.tensor([0.3 * i, 0.05 * i * i, -2.0 + 0.1 * i]) for i in range(n)]
    return torch.stack([look_at(e, torch.tensor([0.0, 0.0, 3.0])) for e in eyes])


def test_align_poses_recovers_a_known_sim3():
    ref = _trajectory()
    s0, R0, t0 = 0.37, Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix(), [1.0, -2.0, 0.5]
    est = apply_sim3_to_w2c(ref, s0, R0, t0).float()  # the same cameras in a world x_est = s0 R0 x_ref + t0
    out = align_poses(est, ref)
    assert abs(out.sim3.s - 1 / s0) < 1e-5 and out.sim3.scale_observable
    assert out.rotation_err_deg < 1e-3 and out.translation_err < 1e-5
    assert torch.allclose(out.aligned_w2c, ref, atol=1e-5)
    depth_ref = _gt_depth()
    assert torch.allclose(out.sim3.apply_depth(depth_ref * s0), depth_ref, rtol=1e-5)


def test_align_poses_reports_residuals_of_noisy_poses():
    ref = _trajectory()
    noisy = ref.clone()
    noisy[2, :3, 3] += torch.tensor([0.02, 0.0, 0.0])  # a 2 cm error in one camera
    out = align_poses(noisy, ref)
    assert 0.005 < out.translation_err < 0.03 and out.rotation_err_deg < 1.0
    assert not math.isnan(out.sim3.s)
