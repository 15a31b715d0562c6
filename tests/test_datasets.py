"""Dataset readers (RealEstate10K, DL3DV/nerfstudio) on tiny datasets made here, and `worldwarp evaluate-dataset`
end to end on them with the CPU demo settings."""

import json
import subprocess

import numpy as np
import pytest
import torch

from conftest import BIN, TINY, cli_env
from worldwarp.config import TrajectoryConfig
from worldwarp.datasets import DatasetError, open_dataset
from worldwarp.geometry.cameras import Cameras
from worldwarp.geometry.trajectory import make_trajectory
from worldwarp.geometry.trajectory_io import save_realestate10k
from worldwarp.io.video import write_png
from worldwarp.scenes import make_scene

W, H, FRAMES = 96, 64, 12
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def _clip(scene: str, preset: str) -> tuple[Cameras, np.ndarray]:
    """Cameras and rendered frames of a procedural scene: a dataset clip whose frames match its cameras."""
    s = make_scene(scene)
    cams = make_trajectory(TrajectoryConfig(preset=preset, distance=0.6, angle_deg=20, fov_deg=60.0), FRAMES, W, H,
                           s.start_pose())
    return cams, s.render(cams)[0].numpy()


CLIPS = {"clip_a": ("room", "forward"), "clip_b": ("garden", "truck_left")}


@pytest.fixture(scope="module")
def clips():
    return {name: _clip(*spec) for name, spec in CLIPS.items()}


@pytest.fixture(scope="module")
def re10k(tmp_path_factory, clips):
    """clip_a's frames named by timestamp, clip_b's by index."""
    root = tmp_path_factory.mktemp("re10k")
    for name, (cams, frames) in clips.items():
        ts = np.arange(FRAMES) * 33_367 + 1_000_000
        save_realestate10k(root / f"{name}.txt", cams, ts, url=f"https://example.invalid/{name}")
        for i, f in enumerate(frames):
            write_png(root / name / (f"{ts[i]}.png" if name == "clip_a" else f"{i:05d}.png"), f)
    return root


def _transforms(cams: Cameras, scale: float) -> dict:
    """nerfstudio transforms.json whose intrinsics are written for an image ``scale`` x larger (DL3DV's full-size
    intrinsics next to images_N), frames listed in reverse to check the reader's file-name order."""
    K, w2c = cams.K.double().numpy(), cams.w2c.double().numpy()
    frames = [{"file_path": f"images/frame_{i + 1:05d}.png",
               "transform_matrix": (np.linalg.inv(w2c[i]) @ CV_TO_GL).tolist()} for i in range(len(K))][::-1]
    return {"camera_model": "OPENCV", "w": W * scale, "h": H * scale, "fl_x": K[0, 0, 0] * scale,
            "fl_y": K[0, 1, 1] * scale, "cx": K[0, 0, 2] * scale, "cy": K[0, 1, 2] * scale,
            "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames}


@pytest.fixture(scope="module")
def dl3dv(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("dl3dv")
    for j, (name, (cams, frames)) in enumerate(clips.items()):
        d = root / name / "nerfstudio" if j == 0 else root / name  # both layouts DL3DV is found in
        d.mkdir(parents=True)
        (d / "transforms.json").write_text(json.dumps(_transforms(cams, 2)))
        for i, f in enumerate(frames):
            write_png(d / "images" / f"frame_{i + 1:05d}.png", f)
    return root


@pytest.mark.parametrize("kind", ["realestate10k", "dl3dv"])
def test_readers_return_the_cameras_and_frames_the_dataset_was_made_from(kind, re10k, dl3dv, clips):
    scenes = open_dataset(kind, re10k if kind == "realestate10k" else dl3dv)
    assert [s.name for s in scenes] == ["clip_a", "clip_b"]
    for s in scenes:
        cams, frames = clips[s.name]
        assert len(s) == FRAMES and (s.cameras.width, s.cameras.height) == (W, H)
        torch.testing.assert_close(s.cameras.K, cams.K, atol=1e-3, rtol=1e-6)  # text files keep 12 digits
        torch.testing.assert_close(s.cameras.w2c, cams.w2c, atol=1e-5, rtol=0)
        for i in (0, 7):  # frame i is the one camera i sees
            np.testing.assert_allclose(s.read_frame(i, H, W), frames[i], atol=1 / 255)
        assert s.first_frame == s.frames[0]


def test_a_known_camera_round_trips_through_the_nerfstudio_convention(tmp_path):
    """A camera at (1, 2, 3) looking down world -z with image up = world +y: nerfstudio writes it as the OpenGL
    c2w with identity rotation; the reader gives OpenCV w2c with camera y down, z forward."""
    from worldwarp.datasets.dl3dv import c2w_gl_to_w2c

    c2w_gl = np.eye(4)
    c2w_gl[:3, 3] = [1, 2, 3]
    w2c = c2w_gl_to_w2c(c2w_gl)
    np.testing.assert_allclose(w2c[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    ahead = np.array([1, 2, 0, 1.0])  # 3 m in front of the camera (along world -z)
    above = np.array([1, 3, 3 - 1, 1.0])  # up in the world, so above the image centre: camera y < 0
    np.testing.assert_allclose(w2c @ ahead, [0, 0, 3, 1], atol=1e-12)
    assert (w2c @ above)[1] < 0 and (w2c @ above)[2] > 0


def test_bad_roots_and_files_are_one_line_errors_naming_the_file(tmp_path, re10k):
    with pytest.raises(DatasetError, match="not a directory"):
        open_dataset("dl3dv", tmp_path / "nope")
    with pytest.raises(DatasetError, match="no transforms.json"):
        open_dataset("dl3dv", tmp_path)
    bad = tmp_path / "s1" / "transforms.json"
    bad.parent.mkdir()
    bad.write_text('{"frames": [ {"file_path": ')
    with pytest.raises(DatasetError, match=r"s1/transforms.json: not valid JSON"):
        open_dataset("dl3dv", tmp_path)
    bad.write_text(json.dumps({"fl_x": 50, "cx": 48, "cy": 32, "w": 96, "h": 64,
                               "frames": [{"file_path": "images/x.png", "transform_matrix": np.eye(4).tolist()}]}))
    with pytest.raises(DatasetError, match=r"transforms.json: frame 0 names .*x.png, which does not exist"):
        open_dataset("dl3dv", tmp_path)
    root = tmp_path / "re"
    root.mkdir()
    (root / "c.txt").write_text("url\n0 0.5 0.5 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1\n")  # 18 numbers, not 19
    (root / "c").mkdir()
    write_png(root / "c" / "00000.png", np.zeros((H, W, 3)))
    with pytest.raises(DatasetError, match=r"c.txt: line 2: expected 19 numbers"):
        open_dataset("realestate10k", root)
    (root / "c.txt").write_text((re10k / "clip_a.txt").read_text())
    with pytest.raises(DatasetError, match=r"re/c: no frame for timestamp 1000000 of c.txt"):
        open_dataset("realestate10k", root)


def _cli(args, cwd):
    res = subprocess.run([str(BIN / "worldwarp"), *args], cwd=cwd, env=cli_env(), capture_output=True, text=True,
                         timeout=600)
    return res.returncode, res.stdout, res.stderr


@pytest.mark.slow
def test_evaluate_dataset_end_to_end_writes_the_papers_table(re10k, tmp_path):
    out = tmp_path / "out"
    sets = [a for o in [*TINY, "device=cpu", "tracking.mlflow=false", "scene.depth_estimator=constant"]
            for a in ("--set", o)]
    rc, stdout, err = _cli(["evaluate-dataset", "--dataset", "realestate10k", "--root", str(re10k), "--n", "2",
                            "--out", str(out), "--at-frame", "4", "--at-frame", "8", "--at-frame", "200", *sets], tmp_path)
    assert rc == 0, err[-3000:]
    doc = json.loads((out / "results.json").read_text())
    assert doc["scenes"] == ["clip_a", "clip_b"] and doc["at_frames"] == [4, 8, 200]
    t = doc["table"]
    assert set(t) == {"PSNR", "SSIM", "LPIPS", "FID", "KID", "R_dist", "T_dist", "N"}
    assert t["N"] == {"4": 2, "8": 2, "200": 0, "mean": 2}
    for k in ("4", "8"):
        assert 10 < t["PSNR"][k] < 60 and 0 < t["SSIM"][k] <= 1
        assert t["FID"][k] is not None and np.isfinite(t["FID"][k])
    assert t["PSNR"]["4"] > t["PSNR"]["8"] - 3  # nearer the input photo is not much worse
    assert t["LPIPS"]["4"] is None  # no local LPIPS weights: skipped, said so
    assert all(t[m]["200"] is None for m in t if m != "N")
    assert any("frame 200: beyond" in n for n in doc["notices"])
    md = (out / "results.md").read_text().splitlines()
    assert md[2] == "| metric | 4th frame | 8th frame | 200th frame | mean over frames |"
    assert [ln.split("|")[1].strip() for ln in md[4:12]] == [
        "PSNR ↑", "SSIM ↑", "LPIPS ↓", "FID ↓", "KID ↓", "R_dist ↓ deg", "T_dist ↓ deg", "N (scenes)"]
    assert (out / "scenes" / "clip_b" / "metrics.json").is_file()


def test_evaluate_dataset_refuses_a_bad_root_in_one_line(tmp_path):
    rc, _, err = _cli(["evaluate-dataset", "--dataset", "dl3dv", "--root", str(tmp_path), "--out", str(tmp_path / "o")],
                      tmp_path)
    assert rc == 2 and err.strip().count("\n") == 0 and "no transforms.json" in err
    rc, _, err = _cli(["evaluate-dataset", "--dataset", "co3d", "--root", str(tmp_path)], tmp_path)
    assert rc == 2 and "unknown; one of realestate10k, dl3dv" in err
