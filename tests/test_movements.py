"""Named camera movements, combinations, per-chunk lists, speed, and the extension of short trajectory files.

Directions are checked in the FIRST camera's frame (OpenCV: x right, y down, z forward) from a generic start pose,
so that "forward" is not the world z. Magnitudes come from the movement table (the authors' numbers).
"""

import subprocess

import numpy as np
import pytest
import torch

from conftest import BIN, ROOT, TINY, cli_env
from worldwarp.config import ChunkConfig, ConfigError, TrajectoryConfig, load_params
from worldwarp.geometry.cameras import CameraError, camera_centers, look_at
from worldwarp.geometry.movements import MOVEMENTS, canonical, chunk_steps, parse
from worldwarp.geometry.trajectory import make_trajectory, movement_trajectory, preset_trajectory
from worldwarp.geometry.trajectory_io import save_cameras_npz

W, H = 96, 64
START = look_at(torch.tensor([0.3, -0.2, -1.0]), torch.tensor([1.0, 0.4, 2.0]), torch.tensor([0.1, -1.0, 0.05]))
R0 = START[:3, :3].double().numpy()
X0, Y0, Z0 = R0  # first camera's axes in world coordinates
STEPS = 40


def path(expr, steps=(STEPS,), speed=1.0, pivot=3.0):
    """World-to-camera (N, 4, 4) float64 of one movement expression (or a list, one per chunk)."""
    exprs = [expr] if isinstance(expr, str) else expr
    return movement_trajectory(exprs, list(steps), START, pivot, speed).double().numpy()


def centres(w2c):
    return camera_centers(torch.from_numpy(w2c)).numpy()


def axes_of(w2c_i):
    """Camera x, y, z axes of one pose, in world coordinates."""
    return w2c_i[:3, :3]


def angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


@pytest.mark.parametrize("name, axis, sign, field", [
    ("DOLLY_IN", Z0, 1, "forward"), ("DOLLY_OUT", Z0, -1, "forward"), ("TRUCK_RIGHT", X0, 1, "right"),
    ("TRUCK_LEFT", X0, -1, "right"), ("PEDESTAL_UP", -Y0, 1, "up"), ("PEDESTAL_DOWN", -Y0, -1, "up"),
])
def test_translations_move_along_their_axis_by_the_table_amount(name, axis, sign, field):
    w2c = path(name)
    moved = centres(w2c)[-1] - centres(w2c)[0]
    expected = abs(getattr(MOVEMENTS[name], field)) * STEPS
    assert np.allclose(moved, sign * expected * axis, atol=1e-6)
    assert np.allclose(w2c[:, :3, :3], R0, atol=1e-6)  # orientation kept


@pytest.mark.parametrize("name, toward, field", [
    ("PAN_RIGHT", X0, "pan"), ("PAN_LEFT", -X0, "pan"), ("TILT_UP", -Y0, "tilt"), ("TILT_DOWN", Y0, "tilt"),
])
def test_pans_and_tilts_turn_the_view_where_the_name_says(name, toward, field):
    w2c = path(name)
    fwd = axes_of(w2c[-1])[2]
    assert fwd @ toward > 0
    assert angle_deg(fwd, Z0) == pytest.approx(abs(getattr(MOVEMENTS[name], field)), abs=1e-4)
    assert np.allclose(centres(w2c), centres(w2c)[0], atol=1e-6)  # turns in place
    # eased in and out: the first and last steps turn less than the middle one
    turn = [angle_deg(axes_of(w2c[i])[2], axes_of(w2c[i + 1])[2]) for i in range(len(w2c) - 1)]
    assert turn[0] < 0.2 * max(turn) and turn[-1] < 0.2 * max(turn)


@pytest.mark.parametrize("name, sign", [("ROLL_LEFT", 1), ("ROLL_RIGHT", -1)])
def test_roll_turns_about_the_view_axis(name, sign):
    w2c = path(name)
    x, _, z = axes_of(w2c[-1])
    assert np.allclose(z, Z0, atol=1e-6)  # the view direction is the rotation axis
    assert angle_deg(x, X0) == pytest.approx(abs(MOVEMENTS[name].roll), abs=1e-4)
    assert np.sign(x @ Y0) == sign  # ROLL_LEFT: the camera's right side dips (the authors' sign)


@pytest.mark.parametrize("name, side", [("ORBIT_RIGHT", X0), ("ORBIT_LEFT", -X0), ("ORBIT_UP", -Y0),
                                        ("ORBIT_DOWN", Y0)])
def test_orbits_keep_the_pivot_fixed(name, side):
    pivot_depth = 2.5
    w2c = path(name, pivot=pivot_depth)
    c = centres(w2c)
    look_at_point = c + pivot_depth * w2c[:, 2, :3]  # the point pivot_depth along each view direction
    assert np.abs(look_at_point - look_at_point[0]).max() < 1e-4
    assert (c[-1] - c[0]) @ side > 0.5 * np.linalg.norm(c[-1] - c[0])  # the centre swings to that side
    rate = abs(MOVEMENTS[name].orbit_right or MOVEMENTS[name].orbit_up)
    assert angle_deg(w2c[-1, 2, :3], Z0) == pytest.approx(rate * STEPS, abs=1e-3)


def test_static_is_the_start_pose_and_aliases_are_accepted():
    w2c = path("STATIC")
    assert np.allclose(w2c, START.double().numpy()[None], atol=1e-6)
    assert canonical("orbit_donw") == "ORBIT_DOWN"
    assert len(MOVEMENTS) == 34


@pytest.mark.parametrize("variant, base, measure, ratio", [
    # the authors' numbers: dolly 0.008 / slow 0.005 / fast 0.015 per frame; pan and tilt 5 / slow 3 deg
    ("DOLLY_IN_FAST", "DOLLY_IN", "distance", 0.015 / 0.008), ("DOLLY_IN_SLOW", "DOLLY_IN", "distance", 0.005 / 0.008),
    ("PAN_RIGHT_SLOW", "PAN_RIGHT", "turn", 3 / 5), ("PAN_LEFT_SLOW", "PAN_LEFT", "turn", 3 / 5),
    ("TILT_UP_SLOW", "TILT_UP", "turn", 3 / 5), ("TILT_DOWN_SLOW", "TILT_DOWN", "turn", 3 / 5),
])
def test_fast_and_slow_scale_their_base(variant, base, measure, ratio):
    def change(name):  # where the centre went, or where the view turned
        w2c = path(name)
        return centres(w2c)[-1] - centres(w2c)[0] if measure == "distance" else np.cross(Z0, w2c[-1, 2, :3])

    def amount(name):
        w2c = path(name)
        return np.linalg.norm(change(name)) if measure == "distance" else angle_deg(w2c[-1, 2, :3], Z0)

    assert amount(variant) / amount(base) == pytest.approx(ratio, rel=1e-4)
    assert angle_deg(change(variant), change(base)) < 1e-3  # the same way


def test_a_plus_b_adds_the_movements():
    combo, dolly, pan = path("DOLLY_IN + PAN_RIGHT"), path("DOLLY_IN"), path("PAN_RIGHT")
    assert np.allclose(combo[-1, :3, :3], pan[-1, :3, :3], atol=1e-6)  # the rotation of PAN_RIGHT
    # translation along the current view at DOLLY_IN's rate: as far from the start as the dolly got, but curving right
    dist = lambda w: np.linalg.norm(centres(w)[-1] - centres(w)[0])  # noqa: E731
    assert dist(combo) == pytest.approx(dist(dolly), rel=1e-3)
    assert (centres(combo)[-1] - centres(combo)[0]) @ X0 > 0.01
    same = [parse(e) for e in ("DOLLY_IN + PAN_RIGHT", "pan_right|dolly_in", "PAN_RIGHT+DOLLY_IN")]
    assert same[0] == same[1] == same[2]
    assert parse("DOLLY_IN + DOLLY_IN").forward == 2 * MOVEMENTS["DOLLY_IN"].forward
    cfg = load_params(None, ['trajectory.movements=[["DOLLY_IN", "PAN_RIGHT"], "tilt_up + truck_left"]'])
    assert cfg.trajectory.movements == ["DOLLY_IN + PAN_RIGHT", "TILT_UP + TRUCK_LEFT"]


def test_one_movement_per_chunk_changes_at_the_boundary_and_the_last_repeats():
    chunk = ChunkConfig(frames=17, history=5, count=3)
    steps = chunk_steps(chunk.frames, chunk.history, chunk.count)
    assert sum(steps) + 1 == chunk.total_frames
    cfg = TrajectoryConfig(movements=["DOLLY_IN", "TRUCK_RIGHT"])
    w2c = make_trajectory(cfg, chunk.total_frames, W, H, START, chunk).w2c.double().numpy()
    step = np.diff(centres(w2c), axis=0)  # step i goes from frame i to i + 1
    b1, b2 = steps[0], steps[0] + steps[1]  # last frames of chunks 0 and 1
    dolly, truck = MOVEMENTS["DOLLY_IN"].forward, MOVEMENTS["TRUCK_RIGHT"].right
    assert np.allclose(step[: b1 - 4], dolly * Z0, atol=1e-6)  # away from the blend at the boundary
    assert np.allclose(step[b1 + 4:], truck * X0, atol=1e-6)  # chunk 1 and (repeated) chunk 2
    assert b2 < len(step) - 1
    # continuous through the boundary: no jump (the authors' Savitzky-Golay filter overshoots a corner by ~10%)
    # and no step that goes (more than the ringing) backwards
    assert np.linalg.norm(step, axis=1).max() <= 1.15 * max(dolly, truck)
    assert np.linalg.norm(np.diff(step, axis=0), axis=1).max() < 0.5 * max(dolly, truck)
    assert (step @ Z0 > -0.12 * dolly).all() and (step @ X0 > -0.12 * truck).all()  # measured: 0.095


def test_speed_scales_the_path():
    assert path("DOLLY_IN", speed=2.0).shape == path("DOLLY_IN").shape
    length = lambda w: np.linalg.norm(np.diff(centres(w), axis=0), axis=1).sum()  # noqa: E731
    assert length(path("DOLLY_IN", speed=2.0)) == pytest.approx(2 * length(path("DOLLY_IN")), rel=1e-9)
    turn = lambda w: angle_deg(w[-1, 2, :3], Z0)  # noqa: E731
    assert turn(path("PAN_RIGHT", speed=2.0)) == pytest.approx(2 * turn(path("PAN_RIGHT")), rel=1e-6)
    fwd = [make_trajectory(TrajectoryConfig(preset="forward", speed=s), 9, W, H, START).centers for s in (1.0, 2.0)]
    assert torch.allclose(fwd[1][-1] - fwd[1][0], 2 * (fwd[0][-1] - fwd[0][0]), atol=1e-5)


@pytest.fixture
def orbit_file(tmp_path):
    """A 12-frame constant-rate orbit file (its own world frame), and the same orbit for any length."""
    rate = 3.0  # degrees per frame

    def orbit(n):
        K0 = torch.tensor([[80.0, 0, 48], [0, 80, 32], [0, 0, 1]])
        from worldwarp.geometry.cameras import Cameras

        Ks, w2c = preset_trajectory("orbit_right", n, START, K0, angle_deg=rate * (n - 1), pivot_depth=2.0)
        return Cameras(Ks, w2c, W, H)

    return save_cameras_npz(tmp_path / "orbit.npz", orbit(12)), orbit


def _extended(p, n, mode, speed=1.0):
    cfg = TrajectoryConfig(file=str(p), extend=mode, anchor_file=False, speed=speed)
    return make_trajectory(cfg, n, W, H, START).w2c.double().numpy()


def test_extension_loop_and_pingpong(orbit_file):
    p, _ = orbit_file
    loop, pp = _extended(p, 30, "loop"), _extended(p, 30, "pingpong")
    assert np.allclose(loop[12], loop[0], atol=1e-6) and np.allclose(loop[12:24], loop[:12], atol=1e-6)
    for j in range(1, 11):  # back along the path without repeating the end pose, then forward again
        assert np.allclose(pp[11 + j], pp[11 - j], atol=1e-6)
    assert np.allclose(pp[22], pp[0], atol=1e-6) and np.allclose(pp[23], pp[1], atol=1e-6)


def test_extension_extrapolate_continues_the_last_motion(orbit_file):
    p, orbit = orbit_file
    ext = _extended(p, 30, "extrapolate")
    truth = orbit(30).w2c.double().numpy()  # the same constant-rate orbit, 30 frames long
    assert np.allclose(ext[:12], truth[:12], atol=1e-5)
    assert np.allclose(ext, truth, atol=1e-4)


def test_extension_slowdown_decelerates_to_a_floor(orbit_file):
    p, _ = orbit_file
    ext = _extended(p, 80, "slowdown")
    step = np.linalg.norm(np.diff(centres(ext), axis=0), axis=1)
    v = step[10]  # the file's own constant step
    new = step[11:]  # step k after the end: v * max(0.95**k, 0.1)
    assert np.allclose(new[:40], v * 0.95 ** np.arange(40), rtol=1e-4)
    assert np.allclose(new[-10:], 0.1 * v, rtol=1e-4)


def test_short_file_refused_when_asked_and_speed_resamples(orbit_file):
    p, orbit = orbit_file
    with pytest.raises(CameraError) as e:
        _extended(p, 13, "error")
    assert str(p) in str(e.value) and "12" in str(e.value) and "13" in str(e.value)
    fast = _extended(p, 6, "error", speed=2.0)  # frame i is file frame 2i
    assert np.allclose(fast, orbit(12).w2c.double().numpy()[::2], atol=1e-5)


def test_bad_movements_give_one_line_errors():
    with pytest.raises(ConfigError) as e:
        load_params(None, ['trajectory.movements=["DOLLY_IN", "PAN_RIHGT"]'])
    msg = str(e.value)
    assert "trajectory.movements" in msg and "PAN_RIHGT" in msg and "\n" not in msg
    assert all(name in msg for name in MOVEMENTS)  # lists the valid ones
    with pytest.raises(ConfigError, match="not both"):
        load_params(None, ["trajectory.movements=DOLLY_IN", "trajectory.file=x.npz"])


PRESETLESS = [o for o in TINY if not o.startswith("trajectory.distance")]


def _cli(*args):
    return subprocess.run([str(BIN / "worldwarp"), *args], env=cli_env(HOME="/tmp"), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_cli_run_with_a_movement_expression(tmp_path):
    from worldwarp.store import RunStore

    # (without TINY's trajectory.distance: movements do not use it, and a --set knob a run does not use is refused)
    tiny = [a for o in [*PRESETLESS, f"artifacts={tmp_path}", "tracking.mlflow=false"] for a in ("--set", o)]
    res = _cli("run", "--trajectory", "DOLLY_IN + PAN_RIGHT", "--run-id", "moves", *tiny)
    assert res.returncode == 0, res.stderr[-2000:]
    store = RunStore.open(tmp_path / "runs" / "moves.zarr")
    assert store.status == "complete"
    cfg = load_params(None, [*PRESETLESS, "trajectory.movements=DOLLY_IN + PAN_RIGHT"])
    w2c = np.asarray(store.read_input()["w2c"], np.float64)
    c = centres(w2c)
    x0, _, z0 = w2c[0, :3, :3]
    assert len(w2c) == cfg.chunk.total_frames
    assert (c[-1] - c[0]) @ z0 > 0 and (c[-1] - c[0]) @ x0 > 0  # forward, curving right
    assert w2c[-1, 2, :3] @ x0 > 0  # the view turned right

    bad = _cli("run", "--trajectory", "DOLLY_IN + PAN_RIHGT", *tiny)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "PAN_RIHGT" in lines[0] and "DOLLY_IN" in lines[0]


def test_cli_preview_trajectory(tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "traj.png"
    res = _cli("preview-trajectory", "--out", str(out), "--set", 'trajectory.movements=["DOLLY_IN", "PAN_LEFT"]',
               *[a for o in PRESETLESS for a in ("--set", o)])
    assert res.returncode == 0, res.stderr[-2000:]
    img = iio.imread(out)
    assert img.ndim == 3 and img.shape[0] > 200 and len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 20
