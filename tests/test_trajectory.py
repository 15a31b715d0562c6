import numpy as np
import pytest
import torch
from typing import get_args

from worldwarp.config.camera import Preset, TrajectoryConfig
from worldwarp.geometry.cameras import Cameras, CameraError, camera_centers, intrinsics_from_fov, look_at, project
from worldwarp.geometry.trajectory import interpolate_poses, make_trajectory, preset_trajectory, progress
from worldwarp.geometry.trajectory_io import save_cameras_npz

W, H = 96, 64
K0 = intrinsics_from_fov(W, H, 60.0)
# a generic start pose, so that "along the first camera's z" is not the world z
START = look_at(torch.tensor([0.3, -0.2, -1.0]), torch.tensor([1.0, 0.4, 2.0]), torch.tensor([0.1, -1.0, 0.05]))
R0 = START[:3, :3].double()
X0, Y0, Z0 = R0[0], R0[1], R0[2]  # first camera's axes in world coordinates
C0 = camera_centers(START[None].double())[0]
KW = dict(distance=2.0, angle_deg=50.0, zoom=3.0, pivot_depth=2.5, spiral_radius=0.3)


def traj(preset, n=21, **kw):
    Ks, w2c = preset_trajectory(preset, n, START, K0, **{**KW, **kw})
    return Ks.double(), w2c.double(), camera_centers(w2c.double())


@pytest.mark.parametrize("preset", get_args(Preset))
@pytest.mark.parametrize("easing", ["linear", "smooth"])
def test_every_preset_shapes_start_and_rotations(preset, easing):
    Ks, w2c = preset_trajectory(preset, 17, START, K0, easing=easing, **KW)
    assert Ks.shape == (17, 3, 3) and w2c.shape == (17, 4, 4) and w2c.dtype == torch.float32
    assert torch.equal(w2c[0], START) and torch.equal(Ks[0], K0)
    R = w2c[:, :3, :3].double()
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-6)
    assert torch.allclose(torch.linalg.det(R), torch.ones(17, dtype=torch.float64), atol=1e-6)
    assert torch.equal(w2c[:, 3], torch.tensor([0.0, 0, 0, 1]).expand(17, 4))
    Cameras(Ks, w2c, W, H)  # passes validation


@pytest.mark.parametrize("preset", get_args(Preset))
def test_every_preset_moves_at_constant_speed(preset):
    Ks, w2c, C = traj(preset, n=31)
    step = (C[1:] - C[:-1]).norm(dim=1)
    rot = torch.stack([torch.arccos(((w2c[i, :3, :3] @ w2c[i + 1, :3, :3].T).trace() - 1).clamp(-2, 2) / 2) for i in range(30)])
    logf = torch.log(Ks[:, 0, 0])
    for d in (step, rot, logf[1:] - logf[:-1]):
        if d.abs().max() > 1e-6:  # something moves: it moves the same amount every frame
            assert (d.max() - d.min()) / d.abs().max() < 1e-3, d


def test_single_frame_is_the_start():
    for preset in get_args(Preset):
        Ks, w2c = preset_trajectory(preset, 1, START, K0)
        assert torch.equal(w2c[0], START) and torch.equal(Ks[0], K0)
    with pytest.raises(CameraError):
        preset_trajectory("forward", 0, START, K0)


def test_smooth_easing_starts_and_ends_slowly():
    p = progress(11, "smooth")
    assert p[0] == 0 and p[-1] == 1 and np.all(np.diff(p) > 0)
    assert np.diff(p)[0] < 0.3 * np.diff(p)[5]


@pytest.mark.parametrize("preset, direction", [("forward", Z0), ("backward", -Z0), ("truck_left", -X0), ("truck_right", X0)])
def test_translations_move_along_the_first_camera_axis(preset, direction):
    _, w2c, C = traj(preset)
    assert torch.allclose(C[-1] - C[0], 2.0 * direction, atol=1e-5)
    off = C - C[0]
    assert torch.allclose(off, (off @ direction)[:, None] * direction, atol=1e-5)  # straight line
    assert torch.allclose(w2c[:, :3, :3], R0.expand(21, 3, 3), atol=1e-6)  # orientation fixed


@pytest.mark.parametrize("preset, side", [("orbit_left", -1), ("orbit_right", 1)])
def test_orbit_keeps_pivot_centred_and_distance_constant(preset, side):
    Ks, w2c, C = traj(preset)
    pivot = C0 + 2.5 * Z0
    assert torch.allclose((C - pivot).norm(dim=1), torch.full((21,), 2.5, dtype=torch.float64), atol=1e-5)
    for i in range(21):
        uv, z = project(pivot[None], Ks[i], w2c[i])
        assert torch.allclose(uv[0], Ks[i, :2, 2], atol=1e-4) and abs(float(z[0]) - 2.5) < 1e-5
    assert side * float((C[1] - C[0]) @ X0) > 0  # left = toward -x
    assert ((C - C[0]) @ Y0).abs().max() < 1e-5  # stays level: rotation about the up axis
    ang = torch.rad2deg(torch.arccos(((C[-1] - pivot) @ (C[0] - pivot)) / 2.5**2))
    assert abs(float(ang) - 50.0) < 1e-3


@pytest.mark.parametrize("preset, side", [("pan_left", -1), ("pan_right", 1)])
def test_pan_keeps_centre_and_yaws_to_the_angle(preset, side):
    _, w2c, C = traj(preset)
    assert torch.allclose(C, C0.expand_as(C), atol=1e-5)
    fwd = w2c[:, 2, :3]  # camera z axis in world coordinates
    assert side * float(fwd[-1] @ X0) > 0  # view turned toward -x for pan_left
    assert abs(float(fwd[-1] @ Y0)) < 1e-6 and abs(float(w2c[-1, 1, :3] @ Y0) - 1) < 1e-6  # pure yaw
    yaw = torch.rad2deg(torch.arccos((fwd[-1] @ Z0).clamp(-1, 1)))
    assert abs(float(yaw) - 50.0) < 1e-3


@pytest.mark.parametrize("preset, final", [("zoom_in", 3.0), ("zoom_out", 1 / 3.0)])
def test_zoom_changes_only_focal(preset, final):
    Ks, w2c, _ = traj(preset)
    assert torch.allclose(w2c, START.double().expand_as(w2c), atol=1e-6)
    assert torch.allclose(Ks[-1, 0, 0], K0[0, 0].double() * final, rtol=1e-5)
    assert torch.allclose(Ks[:, 0, 0] / K0[0, 0], Ks[:, 1, 1] / K0[1, 1])
    assert torch.equal(Ks[:, :2, 2], K0[:2, 2].double().expand(21, 2))
    assert (torch.diff(Ks[:, 0, 0]) * (1 if final > 1 else -1) > 0).all()


def test_spiral_moves_forward_and_circles():
    _, w2c, C = traj("spiral", n=41, spiral_turns=2.0)
    off = C - C0
    assert torch.allclose(off[-1], 2.0 * Z0, atol=1e-5)
    lateral = torch.stack([off @ X0, off @ Y0], dim=1) - torch.tensor([-0.3, 0.0], dtype=torch.float64)
    assert torch.allclose(lateral.norm(dim=1), torch.full((41,), 0.3, dtype=torch.float64), atol=1e-5)
    assert float(lateral[:, 0].min()) < -0.29 and float(lateral[:, 0].max()) > 0.29
    assert torch.allclose(w2c[:, :3, :3], R0.expand(41, 3, 3), atol=1e-6)


def _random_poses(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(m):
        eye = torch.randn(3, generator=g, dtype=torch.float64)
        out.append(look_at(eye, eye + torch.tensor([0, 0, 1.0]) + 0.5 * torch.randn(3, generator=g, dtype=torch.float64)).double())
    return torch.stack(out)


@pytest.mark.parametrize("method", ["linear", "spline"])
def test_interpolation_hits_keys_and_is_continuous(method):
    keys = _random_poses(4)
    kt = torch.tensor([0.0, 1.0, 2.5, 4.0])
    t = torch.linspace(0, 4, 401)
    out = interpolate_poses(keys, kt, t, method=method)
    for i, ti in enumerate(kt):
        j = int(torch.argmin((t - ti).abs()))
        assert torch.allclose(out[j], keys[i], atol=1e-9)
    R = out[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-6)  # keys come from float32 look_at
    C = camera_centers(out)
    assert (C[1:] - C[:-1]).norm(dim=1).max() < 0.1  # no jumps at 0.01 time steps
    d_rot = (R[1:] - R[:-1]).flatten(1).norm(dim=1)
    assert d_rot.max() < 0.1


def test_linear_interpolation_lerps_centres_and_slerps_rotations():
    keys = _random_poses(2, seed=3)
    out = interpolate_poses(keys, [0.0, 1.0], [0.0, 0.25, 0.5, 1.0, 2.0])
    C, Ck = camera_centers(out), camera_centers(keys)
    assert torch.allclose(C[1], 0.75 * Ck[0] + 0.25 * Ck[1], atol=1e-9)
    assert torch.allclose(out[4], keys[1])  # clamped beyond the last key
    from scipy.spatial.transform import Rotation

    rel = Rotation.from_matrix((keys[0, :3, :3].T @ keys[1, :3, :3]).numpy()).magnitude()
    half = Rotation.from_matrix((keys[0, :3, :3].T @ out[2, :3, :3]).numpy()).magnitude()
    assert abs(half - rel / 2) < 1e-9
    with pytest.raises(CameraError, match="increasing"):
        interpolate_poses(keys, [1.0, 1.0], [0.5])


def test_make_trajectory_preset_and_file(tmp_path):
    cfg = TrajectoryConfig(preset="orbit_right", fov_deg=70.0)
    cams = make_trajectory(cfg, 9, W, H, START)
    assert len(cams) == 9 and (cams.width, cams.height) == (W, H)
    assert torch.allclose(cams.K[0], intrinsics_from_fov(W, H, 70.0))
    assert torch.equal(cams.w2c[0], START)

    # a file at twice the resolution in its own world frame: anchored at START, K refitted
    src = make_trajectory(TrajectoryConfig(preset="forward", distance=3.0), 12, 2 * W, 2 * H, torch.eye(4))
    p = save_cameras_npz(tmp_path / "cams.npz", src)
    cams = make_trajectory(TrajectoryConfig(file=str(p)), 10, W, H, START)
    assert len(cams) == 10
    assert torch.allclose(cams.K, src.K[:10] / torch.tensor([2.0, 2.0, 1.0])[:, None], atol=1e-5)
    assert torch.allclose(cams.w2c[0], START, atol=1e-6)
    moved = camera_centers(cams.w2c.double())[9] - C0
    assert torch.allclose(moved, 3.0 * 9 / 11 * Z0, atol=1e-5)
    raw = make_trajectory(TrajectoryConfig(file=str(p), anchor_file=False), 10, W, H, START)
    assert torch.allclose(raw.w2c, src.w2c[:10])

    with pytest.raises(CameraError) as e:
        make_trajectory(TrajectoryConfig(file=str(p), extend="error"), 13, W, H, START)
    assert str(p) in str(e.value) and "12" in str(e.value) and "13" in str(e.value)
