"""Each export read back the way the tool it is for reads it: the 3DGS .ply through plyfile and the INRIA
layout's own rules (then rendered), transforms.json through nerfstudio's conventions, cameras exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from plyfile import PlyData

from worldwarp.export import export_all
from worldwarp.geometry.cameras import intrinsics_from_fov, look_at
from worldwarp.geometry.trajectory_io import load_cameras_npz, load_realestate10k, save_realestate10k
from worldwarp.splat import Gaussians, rasterize
from worldwarp.store import RunStore

H, W, FRAMES, N_GAUSS, SH_K = 24, 32, 12, 300, 4  # SH degree 1: f_rest is present
INRIA_DEG1 = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(9)]
              + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def orbit_cameras(n: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """K (n, 3, 3) with a zoom and an off-centre principal point, w2c (n, 4, 4) orbiting the origin."""
    K, w2c = [], []
    for i in range(n):
        a = 0.6 * i / max(n - 1, 1)
        k = intrinsics_from_fov(W, H, 60.0 - 10.0 * i / n).double()
        k[0, 2], k[1, 2] = W / 2 + 1.5, H / 2 - 1.0
        K.append(k.numpy())
        w2c.append(look_at(torch.tensor([3 * np.sin(a), 0.3, -3 * np.cos(a)]), torch.zeros(3)).double().numpy())
    return np.stack(K), np.stack(w2c)


def random_gaussians(n: int = N_GAUSS, seed: int = 0) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    return Gaussians(means=torch.rand(n, 3, generator=g) * 2 - 1, quats=torch.randn(n, 4, generator=g),
                     scales=torch.log(torch.rand(n, 3, generator=g) * 0.08 + 0.02),
                     opacities=torch.randn(n, generator=g) + 1.0, sh=torch.randn(n, SH_K, 3, generator=g) * 0.8)


def finished_store(root: Path) -> RunStore:
    """A complete run of FRAMES frames whose chunk 0 holds random_gaussians()."""
    s = RunStore.create(root, "run", params={}, input_digest="d", code_version="v", total_frames=FRAMES,
                        frame_shape=(H, W, 3))
    K, w2c = orbit_cameras()
    rng = np.random.default_rng(0)
    s.write_input({"image": rng.integers(0, 255, (H, W, 3), np.uint8), "K": K, "w2c": w2c})
    s.write_stage(0, "gaussians", "k", {k: v.numpy() for k, v in random_gaussians().tensors().items()})
    pixels = rng.integers(0, 255, (FRAMES, H, W, 3), np.uint8)
    s.write_stage(0, "frames", "k", {"rgb": pixels.astype(np.float32) / 255})
    s.add_video_frames(0, 0, 0, FRAMES, lambda: pixels)
    np.testing.assert_array_equal(s.read_video(), pixels)  # the view reads back the very bytes
    s.set_status("complete")
    return s


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[RunStore, Path]:
    root = tmp_path_factory.mktemp("exports")
    s = finished_store(root / "runs")
    export_all(s, root / "out")
    return s, root / "out"


def gaussians_by_inria_rules(path: Path) -> Gaussians:
    """An independent reader: plyfile plus the INRIA layout (f_rest channel-major, raw logit/log/wxyz values)."""
    v = PlyData.read(str(path))["vertex"].data
    col = lambda names: torch.from_numpy(np.stack([v[c] for c in names], 1).astype(np.float32))  # noqa: E731
    rest = col([f"f_rest_{i}" for i in range(9)]).reshape(-1, 3, 3)  # (N, channel, coefficient)
    sh = torch.cat([col(["f_dc_0", "f_dc_1", "f_dc_2"])[:, None], rest.transpose(1, 2)], 1)
    return Gaussians(means=col("xyz"), quats=col([f"rot_{i}" for i in range(4)]),
                     scales=col([f"scale_{i}" for i in range(3)]), opacities=col(["opacity"])[:, 0], sh=sh)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def render(g: Gaussians) -> torch.Tensor:
    K, w2c = orbit_cameras()
    bg = torch.zeros(3)
    return rasterize(g, torch.from_numpy(K[::5]).float(), torch.from_numpy(w2c[::5]).float(), W, H,
                     backend="torch", background=bg, with_depth=False).rgb.clamp(0, 1)


def test_ply_is_the_inria_layout_and_renders_like_our_gaussians(exported):
    store, out = exported
    ply = PlyData.read(str(out / "gaussians.ply"))
    assert [p.name for p in ply["vertex"].properties] == INRIA_DEG1
    assert all(p.val_dtype in ("f4", "float32") for p in ply["vertex"].properties) and ply.byte_order == "<"
    assert not ply.text
    ours = Gaussians(**{k: torch.from_numpy(np.asarray(v)) for k, v in store.read_stage(0, "gaussians").items()})
    theirs = gaussians_by_inria_rules(out / "gaussians.ply")
    for name, t in ours.tensors().items():
        torch.testing.assert_close(getattr(theirs, name), t.float(), rtol=0, atol=0, msg=name)
    # viewers show DC colour as 0.5 + C0 * f_dc; the store's first SH coefficient is that DC term
    np.testing.assert_array_equal(np.stack([ply["vertex"][f"f_dc_{c}"] for c in range(3)], 1), ours.sh[:, 0].numpy())
    ref, got = render(ours), render(theirs)
    assert ref.mean() > 0.05  # the Gaussians are in view: the comparison means something
    print(f"ply read back by INRIA rules, rendered: PSNR {psnr(ref, got)} dB vs our render")
    assert psnr(ref, got) > 60
    # the test can fail: reading f_rest coefficient-major (the common mistake) changes the render
    wrong = theirs.clone()
    wrong.sh[:, 1:] = wrong.sh[:, 1:].transpose(1, 2).reshape(-1, 3, 3)
    assert psnr(ref, render(wrong)) < 40


def test_transforms_json_gives_back_our_opencv_cameras(exported):
    store, out = exported
    doc = json.loads((out / "transforms.json").read_text())
    inp = store.read_input()
    K, w2c = np.asarray(inp["K"]), np.asarray(inp["w2c"])
    assert doc["camera_model"] in ("OPENCV", "PINHOLE") and (doc["w"], doc["h"]) == (W, H)
    assert len(doc["frames"]) == FRAMES
    # nerfstudio takes a top-level intrinsic over every frame's: the zoom must not be written there
    assert "fl_x" not in doc and "fl_y" not in doc and (doc["cx"], doc["cy"]) == (K[0, 0, 2], K[0, 1, 2])
    assert all(doc[k] == 0 for k in ("k1", "k2", "p1", "p2"))
    cv_to_gl = np.diag([1.0, -1.0, -1.0, 1.0])  # nerfstudio cameras: x right, y up, looking down -z
    for i, fr in enumerate(doc["frames"]):
        img = out / fr["file_path"]
        assert img.is_file(), fr["file_path"]
        used = {k: doc.get(k, fr[k]) for k in ("fl_x", "fl_y", "cx", "cy")}  # as nerfstudio resolves them
        assert (used["fl_x"], used["fl_y"], used["cx"], used["cy"]) == (K[i, 0, 0], K[i, 1, 1], K[i, 0, 2], K[i, 1, 2])
        c2w = np.asarray(fr["transform_matrix"])
        assert c2w.shape == (4, 4) and np.array_equal(c2w[3], [0, 0, 0, 1])
        np.testing.assert_allclose(np.linalg.inv(c2w @ cv_to_gl), w2c[i], rtol=0, atol=1e-12)
        # the camera looks at the origin: in OpenGL c2w that is the -z column
        ahead = -c2w[:3, 2]
        np.testing.assert_allclose(ahead, -c2w[:3, 3] / np.linalg.norm(c2w[:3, 3]), atol=1e-6)


def test_cameras_npz_and_realestate10k_round_trip(exported, tmp_path):
    store, out = exported
    inp = store.read_input()
    cams = load_cameras_npz(out / "cameras.npz")
    assert (cams.width, cams.height) == (W, H)
    np.testing.assert_array_equal(cams.K.numpy(), np.asarray(inp["K"]))
    np.testing.assert_array_equal(cams.w2c.numpy(), np.asarray(inp["w2c"]))
    re10k, ts = load_realestate10k(save_realestate10k(tmp_path / "cams.txt", cams), W, H)
    assert len(ts) == FRAMES
    # text keeps 12 significant digits: equal to that precision, not bit for bit
    np.testing.assert_allclose(re10k.K.numpy(), cams.K.numpy(), rtol=1e-11)
    np.testing.assert_allclose(re10k.w2c.numpy(), cams.w2c.numpy(), rtol=0, atol=1e-11)
