"""RGB-D folders (TUM layout and the simple cameras.npz layout) load exactly; malformed ones fail in one line."""

import cv2
import numpy as np
import pytest
import torch

from worldwarp.estimators import RGBDFolderError, SequenceGroundTruth, load_rgbd_folder, load_tum_rgbd
from worldwarp.geometry.cameras import Cameras, intrinsics_from_fov, invert_rigid, look_at
from worldwarp.geometry.trajectory_io import save_cameras_npz

H, W, N = 12, 16, 3


def _images(root, sub, scale):
    (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "rgbd").mkdir(exist_ok=True)
    depths = []
    for i in range(N):
        d = (1.0 + 0.5 * i + 0.01 * np.arange(W))[None].repeat(H, 0)
        d[0, 0] = 0  # no reading
        cv2.imwrite(str(root / sub / f"{i:03d}.png"), np.round(d * scale).astype(np.uint16))
        cv2.imwrite(str(root / "rgbd" / f"{i:03d}.png"), np.full((H, W, 3), 40 * i, np.uint8))
        depths.append(d)
    return depths


def _poses():
    return torch.stack([look_at(torch.tensor([0.2 * i, 0.0, 0.0]), torch.tensor([0.0, 0.0, 4.0])) for i in range(N)])


def test_tum_folder(tmp_path):
    depths = _images(tmp_path, "depth", 5000.0)
    c2w = invert_rigid(_poses().double()).numpy()
    from scipy.spatial.transform import Rotation

    q = Rotation.from_matrix(c2w[:, :3, :3]).as_quat()  # x y z w, as TUM
    (tmp_path / "rgb.txt").write_text("# rgb\n" + "".join(f"{i}.000 rgbd/{i:03d}.png\n" for i in range(N)))
    (tmp_path / "depth.txt").write_text("".join(f"{i}.005 depth/{i:03d}.png\n" for i in range(N)))
    (tmp_path / "groundtruth.txt").write_text("".join(
        f"{i}.010 {' '.join(map(str, c2w[i, :3, 3]))} {' '.join(map(str, q[i]))}\n" for i in range(N)))
    seq = load_tum_rgbd(tmp_path)
    assert len(seq) == N and seq.rgb.shape == (N, H, W, 3)
    assert torch.allclose(seq.depth[1], torch.from_numpy(np.round(depths[1] * 5000) / 5000).float())
    assert torch.allclose(seq.w2c, _poses(), atol=1e-5)
    assert torch.allclose(seq.K[0], torch.tensor([[525.0, 0, 320.0], [0, 525.0, 240.0], [0, 0, 1]]))
    est = SequenceGroundTruth(seq, start=1).estimate(seq.rgb[1:])
    assert est.confidence[0, 0, 0] == 0 and est.confidence[0, 1, 1] == 1 and torch.equal(est.w2c, seq.w2c[1:])
    (tmp_path / "groundtruth.txt").write_text("0.0 1 2 3\n")
    with pytest.raises(RGBDFolderError, match="groundtruth.txt:1: expected 8 columns"):
        load_tum_rgbd(tmp_path)
    (tmp_path / "groundtruth.txt").unlink()
    with pytest.raises(RGBDFolderError, match="missing groundtruth.txt"):
        load_tum_rgbd(tmp_path)


def test_simple_folder(tmp_path):
    depths = _images(tmp_path, "depth", 1000.0)
    (tmp_path / "rgbd").rename(tmp_path / "rgb")
    K = intrinsics_from_fov(W, H, 60.0).expand(N, 3, 3)
    save_cameras_npz(tmp_path / "cameras.npz", Cameras(K, _poses(), W, H))
    seq = load_rgbd_folder(tmp_path)
    assert torch.allclose(seq.depth[2], torch.from_numpy(np.round(depths[2] * 1000) / 1000).float())
    assert torch.allclose(seq.w2c, _poses(), atol=1e-6) and torch.allclose(seq.K, K)
    cv2.imwrite(str(tmp_path / "depth" / "001.png"), np.zeros((H, W), np.uint8))
    with pytest.raises(RGBDFolderError, match="16-bit"):
        load_rgbd_folder(tmp_path)
    (tmp_path / "depth" / "002.png").unlink()
    with pytest.raises(RGBDFolderError, match="3 rgb, 2 depth PNGs and 3 cameras"):
        load_rgbd_folder(tmp_path)
    with pytest.raises(RGBDFolderError, match="not found"):
        load_rgbd_folder(tmp_path / "nope")
