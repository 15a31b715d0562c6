"""`worldwarp trajectory from-video`: a camera path from a reference video through TTT3R (tiny stand-in), written
as cameras.npz that feeds --trajectory; bad inputs are one line and a non-zero exit."""

import subprocess

import numpy as np
import pytest
import torch

from conftest import BIN, ROOT, cli_env
from worldwarp.config.camera import TrajectoryConfig
from worldwarp.estimators.ttt3r import Ttt3rOutput
from worldwarp.estimators.ttt3r.from_video import cameras_from_frames
from worldwarp.estimators.ttt3r.standin import build_tiny_ttt3r
from worldwarp.geometry.trajectory import make_trajectory
from worldwarp.geometry.trajectory_io import load_cameras_npz
from worldwarp.io.video import cover_crop, write_mp4
from worldwarp.scenes import make_scene

SIZE = ["--set", "resolution.height=64", "--set", "resolution.width=96", "--set", "estimator.ttt3r_size=64"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 12-frame 80x160 walk through the room (another aspect ratio than the run's 64x96)."""
    d = tmp_path_factory.mktemp("video")
    scene = make_scene("room")
    cams = make_trajectory(TrajectoryConfig(preset="forward", distance=0.5), 12, 160, 80, scene.start_pose())
    rgb, _ = scene.render(cams)
    return write_mp4(d / "walk.mp4", rgb.numpy()), build_tiny_ttt3r(d / "ttt3r")


def _cli(*args):
    return subprocess.run([str(BIN / "worldwarp"), "trajectory", "from-video", *map(str, args)], env=cli_env(),
                          cwd=ROOT, capture_output=True, text=True)


def test_a_video_becomes_a_camera_file_that_feeds_a_run(tmp_path, clip):
    video, ckpt = clip
    out = tmp_path / "cams.npz"
    r = _cli(video, "--out", out, "--model", ckpt, "--stride", "2", "--max-frames", "5", *SIZE)
    assert r.returncode == 0, r.stderr
    cams = load_cameras_npz(out)
    assert len(cams) == 5 and (cams.width, cams.height) == (96, 64)  # every 2nd of 12 frames, capped at 5
    assert torch.allclose(cams.K, cams.K[:1].expand(5, 3, 3))  # one K for the path
    assert cams.K[0, 0, 2] == 48 and cams.K[0, 1, 2] == 32 and cams.K[0, 0, 0] > 0
    R = cams.w2c[:, :3, :3].double()
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(5, 3, 3), atol=1e-5)
    # the focal is the model's (averaged) unless it was unusable, which is then said on stderr
    assert ("(ttt3r)" in r.stdout) != ("warning" in r.stderr), (r.stdout, r.stderr)
    png = tmp_path / "path.png"
    # SIZE less estimator.ttt3r_size: a run on the ground-truth estimator does not use it (a --set it would refuse)
    p = subprocess.run([str(BIN / "worldwarp"), "preview-trajectory", "--trajectory", str(out), "--out", str(png),
                        *SIZE[:4], "--set", "chunk.frames=5", "--set", "chunk.history=1", "--set", "chunk.count=1"],
                       env=cli_env(), cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert png.stat().st_size > 1000


def test_width_and_height_flags_set_the_camera_size(tmp_path, clip):
    video, ckpt = clip
    out = tmp_path / "sq.npz"
    r = _cli(video, "--out", out, "--model", ckpt, "--max-frames", "3", "--width", "48", "--height", "80", *SIZE)
    assert r.returncode == 0, r.stderr
    cams = load_cameras_npz(out)
    assert len(cams) == 3 and (cams.width, cams.height) == (48, 80)  # the flags win over --set resolution.*
    assert cams.K[0, 0, 2] == 24 and cams.K[0, 1, 2] == 40
    r = _cli(video, "--out", tmp_path / "bad.npz", "--model", ckpt, "--width", "50", *SIZE)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "multiple of 16" in lines[0], r.stderr


class _Outputs:
    """Estimator outputs with a given focal (a random model's focal can come out negative)."""

    def __init__(self, focal: float):
        self.focal = focal

    def run(self, frames):
        V, H, W, _ = frames.shape
        K = torch.tensor([[self.focal, 0, W / 2], [0, self.focal, H / 2], [0, 0, 1.0]]).expand(V, 3, 3)
        c2w = torch.eye(4).repeat(V, 1, 1)
        c2w[:, 0, 3] = torch.arange(V) * 0.5
        return Ttt3rOutput(torch.ones(V, H, W), c2w, K.clone(), torch.zeros(V, H, W))


def test_an_unusable_focal_falls_back_to_the_fov(capsys):
    frames = np.zeros((4, 32, 48, 3), np.float32)
    cams, rep = cameras_from_frames(_Outputs(-3.0), frames, 60.0)
    assert rep["intrinsics"] == "fov_fallback" and "warning" in capsys.readouterr().err
    assert float(cams.K[0, 0, 0]) == pytest.approx(24 / np.tan(np.radians(30)), rel=1e-5)
    cams, rep = cameras_from_frames(_Outputs(40.0), frames, 60.0)
    assert rep["intrinsics"] == "ttt3r" and float(cams.K[0, 0, 0]) == pytest.approx(40.0)
    assert rep["path_length"] == pytest.approx(1.5)  # 3 steps of 0.5 model units
    torch.testing.assert_close(cams.w2c[:, 0, 3], -torch.arange(4) * 0.5)


def test_frames_are_cover_cropped_to_the_run_size():
    """A wide frame is scaled to cover 64x96 and cut at the centre: its middle column stays the middle."""
    frame = np.zeros((80, 320, 3), np.uint8)
    frame[:, 158:162] = 255  # a bright bar at the centre
    out = cover_crop(frame, 96, 64)
    assert out.shape == (64, 96, 3)
    cols = np.nonzero(out[..., 0].mean(0) > 128)[0]
    assert 46 <= cols.min() and cols.max() <= 49


@pytest.mark.parametrize("case", ["missing", "missing_and_no_model", "not_a_video", "no_model"])
def test_bad_inputs_are_one_line(tmp_path, clip, case):
    video, ckpt = clip
    if case == "missing":
        args, needle = (tmp_path / "nope.mp4", "--model", ckpt), "no such video file"
    elif case == "missing_and_no_model":  # the argument given first, and the cheaper check, is named first
        args, needle = (tmp_path / "nope.mp4", "--model", tmp_path / "none.pth"), "nope.mp4: no such video file"
    elif case == "not_a_video":
        fake = tmp_path / "fake.mp4"
        fake.write_text("hello")
        args, needle = (fake, "--model", ckpt), "not a readable video"
    else:
        args, needle = (video, "--model", tmp_path / "none.pth"), "TTT3R checkpoint not found"
    r = _cli(*args, "--out", tmp_path / "c.npz", *SIZE)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "c.npz").exists()
