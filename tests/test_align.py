import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from worldwarp.geometry.align import (
    align_sim3,
    apply_sim3_to_depth,
    apply_sim3_to_points,
    apply_sim3_to_w2c,
    umeyama,
)
from worldwarp.geometry.cameras import CameraError, camera_centers, intrinsics_from_fov, look_at, project, unproject
from worldwarp.geometry.trajectory import preset_trajectory

RNG = np.random.default_rng(7)
S_TRUE = 2.7
R_TRUE = Rotation.from_rotvec([0.4, -1.1, 0.7]).as_matrix()
T_TRUE = np.array([1.5, -0.3, 4.0])


def _generic_ref(n=8, seed=0):
    g = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        eye = g.normal(size=3)
        out.append(look_at(torch.tensor(eye), torch.tensor(eye + [0, 0, 2] + 0.7 * g.normal(size=3))).double())
    return torch.stack(out)


def _forward_ref(n=5):
    start = look_at(torch.tensor([0.2, -0.1, 0.0]), torch.tensor([0.5, 0.0, 3.0]))
    return preset_trajectory("forward", n, start, intrinsics_from_fov(64, 48, 60), distance=0.4)[1].double()


def _to_est(ref_w2c):
    """Estimated poses that a Sim(3) (S_TRUE, R_TRUE, T_TRUE): est -> ref maps onto ``ref_w2c``."""
    # the inverse similarity x_est = R^T (x_ref - t) / s, applied to the reference cameras
    inv_s, inv_R = 1 / S_TRUE, R_TRUE.T
    return apply_sim3_to_w2c(ref_w2c, inv_s, inv_R, -inv_s * inv_R @ T_TRUE)


def test_umeyama_recovers_a_random_sim3():
    src = RNG.normal(size=(20, 3))
    dst = S_TRUE * src @ R_TRUE.T + T_TRUE
    s, R, t = umeyama(src, dst)
    assert abs(s - S_TRUE) < 1e-9
    assert np.allclose(R.numpy(), R_TRUE, atol=1e-9) and np.allclose(t.numpy(), T_TRUE, atol=1e-9)
    s1, R1, _ = umeyama(torch.from_numpy(src), torch.from_numpy(src @ R_TRUE.T), with_scale=False)
    assert s1 == 1.0 and np.allclose(R1.numpy(), R_TRUE, atol=1e-9)


def test_umeyama_never_returns_a_reflection():
    src = RNG.normal(size=(10, 3))
    dst = src * np.array([1, 1, -1])  # a mirror image: best proper rotation, det +1
    _, R, _ = umeyama(src, dst)
    assert abs(np.linalg.det(R.numpy()) - 1) < 1e-9
    with pytest.raises(CameraError):
        umeyama(np.zeros((3, 3)), np.ones((3, 3)))


def test_apply_helpers_are_consistent():
    """A point seen by a camera in the est world is seen at the same pixel, with depth x s, after the Sim(3)."""
    K = intrinsics_from_fov(32, 24, 60)
    w2c = _generic_ref(1)[0]
    depth = torch.full((24, 32), 2.5, dtype=torch.float64) + torch.linspace(0, 1, 32, dtype=torch.float64)
    pts = unproject(depth, K.double(), w2c)
    pts_ref = apply_sim3_to_points(pts, S_TRUE, R_TRUE, T_TRUE)
    w2c_ref = apply_sim3_to_w2c(w2c, S_TRUE, R_TRUE, T_TRUE)
    uv0, z0 = project(pts, K.double(), w2c)
    uv1, z1 = project(pts_ref, K.double(), w2c_ref)
    assert torch.allclose(uv0, uv1, atol=1e-9) and torch.allclose(z1, apply_sim3_to_depth(z0, S_TRUE), atol=1e-9)
    assert torch.allclose(camera_centers(w2c_ref[None]), apply_sim3_to_points(camera_centers(w2c[None]), S_TRUE, R_TRUE, T_TRUE))


@pytest.mark.parametrize("make_ref", [_generic_ref, _forward_ref], ids=["generic", "collinear_forward"])
def test_align_sim3_recovers_a_known_sim3(make_ref):
    ref = make_ref()
    res = align_sim3(_to_est(ref).float(), ref)  # float32 estimates, as from an estimator
    assert res.scale_observable
    assert abs(res.s - S_TRUE) < 1e-5 * S_TRUE
    assert np.allclose(res.R.numpy(), R_TRUE, atol=1e-6) and np.allclose(res.t.numpy(), T_TRUE, atol=1e-5)
    assert torch.allclose(res.aligned_w2c, ref, atol=1e-5)
    assert res.rot_err_deg.max() < 1e-4 and res.trans_err.max() < 1e-5


def test_umeyama_alone_is_ambiguous_on_collinear_centres():
    """Why align_sim3 takes rotation from orientations: centres on a line leave the roll about it free."""
    ref = _forward_ref()
    est = _to_est(ref)
    _, R, _ = umeyama(camera_centers(est), camera_centers(ref))
    res = align_sim3(est, ref)
    assert np.allclose(res.R.numpy(), R_TRUE, atol=1e-9)
    assert not np.allclose(R.numpy(), R_TRUE, atol=1e-3)


def test_align_sim3_is_robust_to_small_noise():
    """1 cm of centre noise (on a ~1-2 m trajectory) and 0.5 deg of rotation noise: scale within 2 %,
    rotation within 0.5 deg, aligned centres within 5 cm of the reference (the noise itself is ~1.6 cm per camera)."""
    ref = _generic_ref(12, seed=1)
    est = _to_est(ref).numpy()
    g = np.random.default_rng(3)
    for i in range(len(est)):
        dR = Rotation.from_rotvec(np.deg2rad(0.5) * g.normal(size=3) / np.sqrt(3)).as_matrix()
        C = camera_centers(torch.from_numpy(est[i : i + 1]))[0].numpy() + 0.01 / S_TRUE * g.normal(size=3)
        est[i, :3, :3] = dR @ est[i, :3, :3]
        est[i, :3, 3] = -est[i, :3, :3] @ C
    res = align_sim3(est, ref)
    ang = np.degrees(Rotation.from_matrix(res.R.numpy() @ R_TRUE.T).magnitude())
    assert res.scale_observable and abs(res.s / S_TRUE - 1) < 0.02 and ang < 0.5
    assert res.trans_err.max() < 0.05 and res.rot_err_deg.max() < 1.5


def test_static_cameras_make_scale_unobservable():
    ref = _generic_ref(1).expand(4, 4, 4).clone()
    est = _to_est(ref)
    res = align_sim3(est, ref)
    assert not res.scale_observable and res.s == 1.0
    assert np.allclose(res.R.numpy(), R_TRUE, atol=1e-9)
    # with s = 1 the rotation is still right and the centre lands exactly on the reference
    assert res.trans_err.max() < 1e-6 and res.rot_err_deg.max() < 1e-5  # ref rotations are float32-orthonormal
    res2 = align_sim3(est, ref, fallback_scale=S_TRUE)
    assert res2.s == S_TRUE and torch.allclose(res2.aligned_w2c, ref, atol=1e-6)
    one = align_sim3(est[:1], ref[:1])  # a single history frame (chunk 0)
    assert not one.scale_observable and one.trans_err.item() < 1e-6


def test_align_sim3_bad_input():
    ref = _generic_ref(3)
    with pytest.raises(CameraError):
        align_sim3(ref[:2], ref)
    bad = ref.clone()
    bad[1, 0, 3] = float("nan")
    with pytest.raises(CameraError, match="NaN"):
        align_sim3(bad, ref)
