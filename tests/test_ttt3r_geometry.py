"""TTT3R in the geometry stage: the authors' pose convention and our Sim(3) alignment (numbers on a known
geometry), then the whole CPU pipeline with the tiny stand-in loaded from a release-format checkpoint."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation

from conftest import TINY
from stages.runner import run_longshot
from worldwarp.config import load_params
from worldwarp.estimators.ttt3r import Ttt3rOutput
from worldwarp.estimators.ttt3r.standin import build_tiny_ttt3r
from worldwarp.estimators.ttt3r_history import ttt3r_history


def _path(V: int = 5) -> torch.Tensor:
    """Commanded world-to-camera poses: a camera moving forward and turning."""
    w2c = torch.eye(4, dtype=torch.float64).repeat(V, 1, 1)
    for i in range(V):
        R = torch.from_numpy(Rotation.from_euler("y", 4 * i, degrees=True).as_matrix())
        w2c[i, :3, :3], w2c[i, :3, 3] = R, -R @ torch.tensor([0.3 * i, 0.05 * i, 0.2 * i], dtype=torch.float64)
    return w2c


def _estimate(cmd_w2c: torch.Tensor, s0: float, depth_true: torch.Tensor) -> Ttt3rOutput:
    """What a perfect estimator in another frame and unit would return: its world is the commanded one moved by
    a rigid motion and shrunk by s0 (x_est = (G x_cmd) / s0)."""
    G = torch.eye(4, dtype=torch.float64)
    G[:3, :3] = torch.from_numpy(Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix())
    G[:3, 3] = torch.tensor([1.0, -2.0, 0.5])
    c2w_cmd = torch.linalg.inv(cmd_w2c)
    c2w = G @ c2w_cmd
    c2w[:, :3, 3] /= s0
    V, (H, W) = len(cmd_w2c), depth_true.shape[1:]
    return Ttt3rOutput(depth_true / s0, c2w.float(), torch.eye(3).repeat(V, 1, 1), torch.full((V, H, W), 0.5))


def test_sim3_brings_poses_and_depth_into_the_trajectory():
    cmd = _path()
    depth = 2 + torch.rand(5, 6, 8, generator=torch.Generator().manual_seed(0))
    out = _estimate(cmd, 2.5, depth)
    d, w2c, conf, info = ttt3r_history(out, cmd, depth, torch.ones_like(depth, dtype=torch.bool), "sim3")
    np.testing.assert_allclose(w2c.numpy(), cmd.numpy(), atol=1e-5)
    np.testing.assert_allclose(d.numpy(), depth.numpy(), rtol=1e-5)
    assert info["pose_scale"] == pytest.approx(2.5, rel=1e-6) and info["depth_scale"] == pytest.approx(2.5, rel=1e-6)
    assert info["pose_rotation_deg"] < 1e-3 and info["pose_translation"] < 1e-5 and info["depth_residual"] < 1e-5


def test_authors_convention_anchors_the_last_frame_and_keeps_model_units():
    cmd = _path()
    depth = 2 + torch.rand(5, 6, 8, generator=torch.Generator().manual_seed(0))
    out = _estimate(cmd, 2.5, depth)
    d, w2c, _, info = ttt3r_history(out, cmd, depth, torch.ones_like(depth, dtype=torch.bool), "authors")
    np.testing.assert_allclose(w2c[-1].numpy(), cmd[-1].numpy(), atol=1e-6)  # the anchor keeps its commanded pose
    # every other frame sits where the model put it relative to the last one, in the model's units
    rel_est = out.w2c.double() @ out.c2w.double()[-1]
    rel_ours = w2c.double() @ torch.linalg.inv(w2c.double())[-1]
    np.testing.assert_allclose(rel_ours.numpy(), rel_est.numpy(), atol=1e-5)
    np.testing.assert_allclose(d.numpy(), (depth / 2.5).numpy(), rtol=1e-6)  # no scale fitted
    assert info["depth_scale"] == 1.0 and info["pose_scale"] == pytest.approx(2.5, rel=1e-6)
    assert info["depth_residual"] == pytest.approx(0.6, rel=1e-6)  # |d/2.5 - d| / d = 0.6: reported, not corrected


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_ttt3r(tmp_path_factory.mktemp("ttt3r"))


def _run(tmp_path, extra, run_id="t"):
    cfg = load_params(None, [*TINY, "chunk.count=2", f"artifacts={tmp_path}", "tracking.mlflow=false",
                             "estimator.backend=ttt3r", "estimator.ttt3r_size=64", *extra])
    return run_longshot(cfg, run_id)


@pytest.mark.parametrize("align", ["sim3", "authors"])
def test_pipeline_runs_with_the_standin(tmp_path, checkpoint, align):
    store = _run(tmp_path, [f"estimator.model_dir={checkpoint}", f"estimator.ttt3r_align={align}"])
    assert store.status == "complete"
    a = store.stage_attrs(1, "geometry")
    assert a["source"] == "cache-render+ttt3r" and a["pose"] == f"ttt3r+{align}"
    for k in ("residual_pose_rotation_deg", "residual_pose_translation", "residual_pose_scale", "residual_depth_residual"):
        assert a[k] is not None and math.isfinite(a[k])
    geo, hand = store.read_stage(1, "geometry"), store.read_stage(0, "handoff")
    assert np.all(geo["depth"] > 0) and geo["depth"].shape == hand["rgb"].shape[:3]
    if align == "authors":
        np.testing.assert_allclose(geo["w2c"][-1], hand["w2c"][-1], atol=1e-5)
    video = store.read_video()
    assert video.shape[0] > 9 and np.isfinite(video).all()


def test_a_photo_gets_its_first_depth_from_ttt3r(tmp_path, checkpoint):
    photo = tmp_path / "p.png"
    Image.fromarray((np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)).save(photo)
    store = _run(tmp_path, [f"scene.image={photo}", f"estimator.model_dir={checkpoint}", "chunk.count=1"])
    a = store.stage_attrs(0, "geometry")
    assert a["source"] == "input+ttt3r" and a["depth_metric"] is True and a["depth_median"] > 0
