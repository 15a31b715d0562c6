"""Classical PnP poses against a rendered depth, and the history-geometry entry point, on the procedural room."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from worldwarp.config.estimator import EstimatorConfig
from worldwarp.estimators import SceneGroundTruth, estimate_history_geometry, estimate_poses_pnp
from worldwarp.geometry.cameras import Cameras, camera_centers, intrinsics_from_fov
from worldwarp.scenes import make_scene

H, W = 144, 192
ROT_BOUND_DEG, TRANS_BOUND_CM = 0.5, 3.0  # the room spans ~2-28 m; pixels are ~0.5 cm at 2 m


def _move(w2c: torch.Tensor, yaw_deg: float, dx: float, dz: float = 0.0) -> torch.Tensor:
    T = torch.eye(4)
    T[:3, :3] = torch.from_numpy(Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix()).float()
    T[0, 3], T[2, 3] = dx, dz
    return T @ w2c  # a camera-frame motion: yaw and sideways / forward steps


@pytest.fixture(scope="module")
def room():
    scene = make_scene("room")
    p0 = scene.start_pose()
    w2c = torch.stack([p0, _move(p0, 3, 0.1), _move(p0, -4, -0.15, 0.1), _move(p0, 6, 0.2, -0.1)])
    K = intrinsics_from_fov(W, H, 60.0).expand(4, 3, 3).clone()
    rgb, depth = scene.render(Cameras(K, w2c, W, H))
    return scene, rgb, depth, K, w2c


def _errors(est: torch.Tensor, gt: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    rel = (est[:, :3, :3].double() @ gt[:, :3, :3].double().transpose(1, 2)).numpy()
    rot = np.degrees(Rotation.from_matrix(rel).magnitude())
    trans_cm = (camera_centers(est.double()) - camera_centers(gt.double())).norm(dim=1).numpy() * 100
    return rot, trans_cm


@pytest.mark.parametrize("features", ["sift", "orb"])
def test_pnp_recovers_poses_without_a_guess(room, features):
    from worldwarp.estimators import PnPSettings

    _, rgb, depth, K, w2c = room
    r = estimate_poses_pnp(rgb[1:], K[1:], rgb[0], depth[0], K[0], w2c[0], settings=PnPSettings(features=features))
    rot, trans = _errors(r.w2c, w2c[1:])
    assert all(r.solved), (r.inliers, r.matches)
    loose = 2.0 if features == "orb" else 1.0  # ORB's pyramid keypoints are coarser than SIFT's sub-pixel ones
    assert rot.max() < ROT_BOUND_DEG * loose, rot
    assert trans.max() < TRANS_BOUND_CM * loose, trans
    assert ((r.confidence > 0) & (r.confidence <= 1)).all()


def test_pnp_unmatched_frame_keeps_its_fallback_pose(room):
    _, rgb, depth, K, w2c = room
    flat = torch.full_like(rgb[:1], 0.5)  # no texture: nothing to match
    r = estimate_poses_pnp(flat, K[0], rgb[0], depth[0], K[0], w2c[0], init_w2c=w2c[1:2])
    assert r.solved == [False] and float(r.confidence[0]) == 0.0 and torch.equal(r.w2c[0], w2c[1])


def test_history_ground_truth_commanded_is_unchanged(room):
    scene, rgb, depth, K, w2c = room
    mask = torch.ones_like(depth)
    mask[:, :10] = 0.0  # a hole in the render
    est = estimate_history_geometry(rgb, K, w2c, depth, mask, EstimatorConfig())
    assert torch.equal(est.depth, depth) and torch.equal(est.w2c, w2c) and torch.equal(est.K, K)
    assert est.confidence[:, :10].eq(0).all() and est.confidence[:, 10:].eq(1).all()
    assert est.residuals["depth_scale"] == 1.0 and est.residuals["pose_rotation_deg"] == 0.0
    gt = SceneGroundTruth(scene.render).estimate(rgb, K=K, w2c=w2c)  # the scene-backed ground truth agrees
    assert torch.allclose(gt.depth, depth) and gt.confidence.eq(1).all()


@pytest.mark.parametrize("pnp_align, trans_bound_cm", [("none", TRANS_BOUND_CM), ("rigid", TRANS_BOUND_CM), ("sim3", 4.0)])
def test_history_pnp_mode_recovers_the_true_poses_from_a_drifted_command(room, pnp_align, trans_bound_cm):
    """Frames were shot at the true poses; the commanded poses carry a small per-frame error (as when the
    cache drifted). PnP against the reference's rendered depth (then Sim(3) / rigid onto the command, which
    pulls the poses a little toward the command's error) must land within the bounds of the truth and report
    the command's disagreement in its residuals."""
    _, rgb, depth, K, w2c = room
    cmd = w2c.clone()
    for i, (yaw, dx) in enumerate([(0.0, 0.0), (0.4, 0.02), (-0.3, -0.03), (0.5, 0.025)]):
        cmd[i] = _move(w2c[i], yaw, dx)  # frame 0 (best coverage: the reference) stays exact
    rendered = depth.clone()
    mask = torch.zeros_like(depth)
    mask[0] = 1.0  # only the reference view's render is trusted
    est = estimate_history_geometry(rgb, K, cmd, rendered, mask, EstimatorConfig(pose="pnp", pnp_align=pnp_align))
    rot, trans = _errors(est.w2c, w2c)
    assert rot.max() < ROT_BOUND_DEG and trans.max() < trans_bound_cm, (rot, trans)
    r = est.residuals
    assert r["pose_frames_solved"] == 4 and r["pose_reference"] == 0.0
    assert 1.0 < r["pose_translation"] * 100 < 6.0 and r["pose_rotation_deg"] > 0.1  # the command's error, measured
    assert est.pose_confidence is not None and float(est.pose_confidence.min()) > 0
    assert not math.isnan(r["pose_scale"])
