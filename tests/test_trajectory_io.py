import numpy as np
import pytest
import torch

from worldwarp.geometry.cameras import Cameras, CameraError, intrinsics_from_fov, look_at
from worldwarp.geometry.trajectory import preset_trajectory
from worldwarp.geometry.trajectory_io import (
    load_cameras_npz,
    load_realestate10k,
    load_trajectory,
    rescale_intrinsics,
    save_cameras_npz,
    save_realestate10k,
)

W, H = 96, 64


@pytest.fixture
def cams() -> Cameras:
    start = look_at(torch.tensor([0.2, -0.1, 0.5]), torch.tensor([1.0, 0.0, 3.0]))
    K = intrinsics_from_fov(W, H, 55.0)
    K[0, 2] += 1.5  # an off-centre principal point must survive too
    Ks, w2c = preset_trajectory("orbit_left", 7, start, K, angle_deg=40.0)
    return Cameras(Ks, w2c, W, H)


def test_npz_round_trip(tmp_path, cams):
    p = save_cameras_npz(tmp_path / "cams", cams)  # exactly the given name, no '.npz' appended
    assert p == tmp_path / "cams" and p.exists()
    back = load_cameras_npz(p)
    assert (back.width, back.height) == (W, H)
    assert torch.allclose(back.K, cams.K, atol=1e-6) and torch.allclose(back.w2c, cams.w2c, atol=1e-6)
    with np.load(p, allow_pickle=False) as z:
        assert sorted(z.files) == ["K", "R", "height", "t", "width"]
        assert z["R"].shape == (7, 3, 3) and z["t"].shape == (7, 3) and z["width"].shape == ()


def test_realestate10k_round_trip(tmp_path, cams):
    ts = np.arange(7) * 33367 + 1000
    p = save_realestate10k(tmp_path / "cams.txt", cams, ts, url="https://www.youtube.com/watch?v=abc")
    lines = p.read_text().splitlines()
    assert lines[0] == "https://www.youtube.com/watch?v=abc" and len(lines) == 8
    f = lines[1].split()
    assert len(f) == 19 and int(f[0]) == 1000 and abs(float(f[1]) - float(cams.K[0, 0, 0]) / W) < 1e-9
    back, ts2 = load_realestate10k(p, W, H)
    assert np.array_equal(ts2, ts) and ts2.dtype == np.int64
    assert torch.allclose(back.K, cams.K, atol=1e-6) and torch.allclose(back.w2c, cams.w2c, atol=1e-6)
    # normalised intrinsics: loading at another size scales K, poses unchanged
    big, _ = load_realestate10k(p, 2 * W, 2 * H)
    assert torch.allclose(big.K[:, :2], 2 * cams.K[:, :2], atol=1e-5) and torch.allclose(big.w2c, cams.w2c, atol=1e-6)


def test_realestate10k_default_timestamps(tmp_path, cams):
    _, ts = load_realestate10k(save_realestate10k(tmp_path / "c.txt", cams), W, H)
    assert ts[0] == 0 and ts[3] == 100000


def test_load_trajectory_dispatch_and_rescale(tmp_path, cams):
    npz = save_cameras_npz(tmp_path / "a.npz", cams)
    txt = save_realestate10k(tmp_path / "a.txt", cams)
    for p in (npz, txt):
        c = load_trajectory(p, W, H)
        assert torch.allclose(c.w2c, cams.w2c, atol=1e-6) and torch.allclose(c.K, cams.K, atol=1e-5)
    half = load_trajectory(npz, W // 2, H // 2)
    assert torch.allclose(half.K[:, :2], cams.K[:, :2] / 2, atol=1e-5)
    with pytest.raises(CameraError, match="unknown trajectory file type") as e:
        load_trajectory(tmp_path / "a.json", W, H)
    assert "a.json" in str(e.value)


def test_rescale_intrinsics_crops_to_aspect_then_scales():
    K = intrinsics_from_fov(200, 100, 60.0)[None]  # 2:1 image, principal point at the centre
    out = rescale_intrinsics(K, (200, 100), (64, 64))  # centre crop 100x100, then x0.64
    assert torch.allclose(out[0, :2, 2], torch.tensor([32.0, 32.0]), atol=1e-5)
    assert torch.allclose(out[0, 0, 0], K[0, 0, 0] * 0.64) and torch.allclose(out[0, 1, 1], K[0, 1, 1] * 0.64)


def _npz(path, **over):
    n = 4
    arrays = dict(K=np.tile(intrinsics_from_fov(W, H, 60).numpy(), (n, 1, 1)), R=np.tile(np.eye(3), (n, 1, 1)),
                  t=np.zeros((n, 3)), width=W, height=H)
    arrays.update(over)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def _bad_rot():
    R = np.tile(np.eye(3), (4, 1, 1))
    R[2, 0, 0] = 1.2
    return R


def _with_nan():
    t = np.zeros((4, 3))
    t[1, 2] = np.nan
    return t


@pytest.mark.parametrize(
    "over, fragment",
    [
        (dict(t=None), "missing keys"),
        (dict(K=np.zeros((4, 3))), "shape"),
        (dict(t=np.zeros((5, 3))), "frame counts differ"),
        (dict(R=np.zeros((0, 3, 3)), K=np.zeros((0, 3, 3)), t=np.zeros((0, 3))), "no cameras"),
        (dict(t=_with_nan()), "nan"),
        (dict(R=_bad_rot()), "not orthonormal"),
        (dict(R=np.tile(np.diag([1.0, 1, -1]), (4, 1, 1))), "determinant"),
        (dict(width=np.array([96, 2])), "width"),
        (dict(height=0), "height"),
        (dict(K=np.zeros((4, 3, 3))), "focal"),
    ],
)
def test_bad_npz_files(tmp_path, over, fragment):
    p = _npz(tmp_path / "bad_cams.npz", **over)
    with pytest.raises(CameraError) as e:
        load_trajectory(p, W, H)
    msg = str(e.value)
    assert str(p) in msg and fragment.lower() in msg.lower() and "\n" not in msg


def test_unreadable_npz(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip")
    for path, fragment in ((p, "not a readable"), (tmp_path / "missing.npz", "no such file")):
        with pytest.raises(CameraError) as e:
            load_cameras_npz(path)
        assert str(path) in str(e.value) and fragment in str(e.value) and "\n" not in str(e.value)


GOOD = "0 0.6 0.9 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty file"),
        ("   \n\n", "empty file"),
        ("https://x\n", "no camera lines"),
        (f"url\n{GOOD}\n0 0.6 0.9 0.5\n", "line 3: expected 19 numbers, got 4"),
        (f"url\n{GOOD}\n{GOOD.replace('0.9', 'abc')}\n", "line 3: cannot parse 'abc'"),
        (f"url\n{GOOD.replace('0.9', 'nan')}\n", "line 2: contains nan"),
        (f"url\n{GOOD}\n{GOOD}\n{GOOD.replace(' 1 0 0 0 0 1', ' 1.5 0 0 0 0 1', 1)}\n", "line 4: rotation is not orthonormal"),
        (f"url\n{GOOD.replace('0.6', '-0.6')}\n", "line 2: focal length must be positive"),
    ],
)
def test_bad_realestate10k_files(tmp_path, text, fragment):
    p = tmp_path / "bad_re10k.txt"
    p.write_text(text)
    with pytest.raises(CameraError) as e:
        load_trajectory(p, W, H)
    msg = str(e.value)
    assert str(p) in msg and fragment.lower() in msg.lower() and "\n" not in msg
