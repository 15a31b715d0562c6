"""Tiny random Depth Anything V2 / Depth Pro directories, saved with save_pretrained and loaded through the real
loader: shapes, units after alignment, intrinsics, determinism, and one-line errors for bad directories."""

import json

import pytest
import torch

from worldwarp.config.estimator import EstimatorConfig
from worldwarp.diffusion.checkpoint import CheckpointError
from worldwarp.estimators import estimate_history_geometry, make_estimator
from worldwarp.estimators.depth_models import MonocularDepthEstimator
from worldwarp.estimators.standins import build_tiny_depth_anything, build_tiny_depth_pro
from worldwarp.geometry.cameras import intrinsics_from_fov, look_at

V, H, W = 2, 40, 56


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("depth_models")
    return {"depth_anything": build_tiny_depth_anything(root / "da"), "depth_pro": build_tiny_depth_pro(root / "dp")}


def _frames():
    g = torch.Generator().manual_seed(0)
    return torch.rand(V, H, W, 3, generator=g)


def test_depth_anything_is_relative_disparity(dirs):
    est = MonocularDepthEstimator.from_pretrained(dirs["depth_anything"], torch_dtype="float32", device="cpu")
    p = est.predict(_frames())
    assert p.values.shape == (V, H, W) and p.space == "inverse" and not p.metric
    assert p.intrinsics_source == "fov_knob" and torch.allclose(p.K[0], intrinsics_from_fov(W, H, 60.0))
    g = est.estimate(_frames())
    assert g.depth.shape == (V, H, W) and torch.isfinite(g.depth).all() and (g.depth > 0).all()
    assert torch.equal(est.predict(_frames()).values, p.values)  # deterministic


def test_depth_pro_gives_metric_depth_and_its_own_intrinsics(dirs):
    est = MonocularDepthEstimator.from_pretrained(dirs["depth_pro"])
    p = est.predict(_frames())
    assert p.space == "depth" and p.metric and p.intrinsics_source == "model"
    assert p.K.shape == (V, 3, 3) and (p.K[:, 0, 0] > 0).all()
    assert torch.allclose(p.K[0], intrinsics_from_fov(W, H, 55.0), rtol=1e-4)  # the stand-in's FOV head says 55
    assert torch.isfinite(p.values).all() and (p.values > 0).all()
    K = intrinsics_from_fov(W, H, 40.0)
    q = est.predict(_frames(), K=K)  # a known focal length wins and rescales the metric depth (depth ~ f)
    assert q.intrinsics_source == "given" and torch.allclose(q.values, p.values * K[0, 0] / p.K[0, 0, 0], rtol=1e-4)


@pytest.mark.parametrize("backend", ["depth_anything", "depth_pro"])
def test_history_geometry_aligns_model_depth_to_the_render(dirs, backend):
    cfg = EstimatorConfig(backend=backend, model_dir=str(dirs[backend]), min_valid_pixels=64)
    K = intrinsics_from_fov(W, H, 60.0).expand(V, 3, 3)
    w2c = torch.stack([look_at(torch.tensor([0.1 * i, 0.0, 0.0]), torch.tensor([0.0, 0.0, 5.0])) for i in range(V)])
    rendered = 2.0 + torch.linspace(0, 3, W).expand(V, H, W).clone()
    mask = torch.ones(V, H, W)
    mask[:, :, :8] = 0  # a hole: there the model's depth is kept at the hole confidence
    est = estimate_history_geometry(_frames(), K, w2c, rendered, mask, cfg, estimator=make_estimator(cfg))
    assert est.depth.shape == (V, H, W) and torch.isfinite(est.depth).all() and (est.depth > 0).all()
    assert torch.equal(est.w2c, w2c) and torch.equal(est.K, K)
    assert ((est.confidence >= 0) & (est.confidence <= 1)).all() and est.confidence[:, :, :8].eq(0.5).all()
    r = est.residuals
    assert set(r) >= {"depth_scale", "depth_shift", "depth_residual", "pose_rotation_deg", "pose_translation"}
    # a random network may be anti-correlated with the render (its frame is then left unaligned, at the
    # fallback depth); frames that do align have a positive scale and land in the render's depth range
    if r["depth_frames_aligned"] > 0:
        assert r["depth_scale"] > 0 and r["depth_residual"] >= 0
        assert 1.0 < float(est.depth[:, :, 8:].median()) < 10.0


def test_bad_model_directories_give_one_line_errors(dirs, tmp_path):
    cases = [
        (tmp_path / "nope", "model directory not found"),
        (tmp_path, "has no config.json"),
    ]
    for path, fragment in cases:
        with pytest.raises(CheckpointError) as exc:
            MonocularDepthEstimator.from_pretrained(path)
        assert fragment in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(CheckpointError, match="model_type 'depth_anything'; expected 'depth_pro'"):
        MonocularDepthEstimator.from_pretrained(dirs["depth_anything"], kind="depth_pro")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="model_type 'llama'"):
        MonocularDepthEstimator.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "depth_pro"}))
    with pytest.raises(CheckpointError, match="has no weights"):
        MonocularDepthEstimator.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no model directory configured"):
        make_estimator(EstimatorConfig(backend="depth_pro"))
