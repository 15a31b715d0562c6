"""The geometry stage through the configured estimator: ground truth by default, a depth model (tiny stand-in,
loaded through the real transformers path) aligned to the cache, or PnP poses; residuals land in the attrs."""

import numpy as np
import pytest
from PIL import Image

from conftest import TINY
from stages.runner import run_longshot
from worldwarp.config import load_params
from worldwarp.estimators.standins import build_tiny_depth_anything


@pytest.fixture(scope="module")
def depth_anything(tmp_path_factory):
    return build_tiny_depth_anything(tmp_path_factory.mktemp("da") / "depth-anything")


def _run(tmp_path, extra, run_id="g"):
    cfg = load_params(None, [*TINY, "chunk.count=2", f"artifacts={tmp_path}", "tracking.mlflow=false", *extra])
    return run_longshot(cfg, run_id)


# 5 3DGS steps, not TINY's 20, where what a test checks does not depend on the fit (the source of a depth, the
# commanded history poses, finite positive depth, a residual either aligned or counted as failed): the fit was
# most of each run's time. The PnP test keeps its own size and steps: its bounds were measured there.
FEW_STEPS = "splat.steps=5"


def test_ground_truth_default_uses_the_cache_render(tmp_path):
    store = _run(tmp_path, [FEW_STEPS])
    a = store.stage_attrs(1, "geometry")
    assert a["source"] == "cache-render+ground_truth"
    assert a["residual_depth_scale"] == 1.0 and a["residual_pose_rotation_deg"] == 0.0
    geo, inp = store.read_stage(1, "geometry"), store.read_input()
    h = 3
    # the history frames of chunk 1 are the last 3 frames of chunk 0, at their commanded poses
    np.testing.assert_allclose(geo["w2c"], np.asarray(inp["w2c"][9 - h:9]), atol=1e-6)
    assert np.all(geo["depth"] > 0)


def test_depth_model_is_aligned_to_the_cache_and_reports_residuals(tmp_path, depth_anything):
    store = _run(tmp_path, [FEW_STEPS, "estimator.backend=depth_anything", f"estimator.model_dir={depth_anything}",
                            "estimator.min_valid_pixels=64"])
    assert store.status == "complete"
    a = store.stage_attrs(1, "geometry")
    assert a["source"] == "cache-render+depth_anything"
    # a random stand-in predicts no real depth: each frame either aligns or is counted as failed
    aligned, failed = a["residual_depth_frames_aligned"], a["residual_depth_frames_failed"]
    assert aligned + failed == 3
    if aligned:
        assert a["residual_depth_scale"] > 0 and a["residual_depth_residual"] >= 0
    else:
        assert a["residual_depth_scale"] is None  # NaN ("not applicable") is stored as null
    depth = np.asarray(store.read_stage(1, "geometry")["depth"])
    assert np.isfinite(depth).all() and (depth > 0).all()
    # the scene's own chunk-0 depth is exact: the model is not used there
    assert store.stage_attrs(0, "geometry")["source"] == "input"


def test_a_photo_gets_its_first_depth_from_the_model(tmp_path, depth_anything):
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)).save(photo)
    store = _run(tmp_path, [FEW_STEPS, f"scene.image={photo}", "estimator.backend=depth_anything",
                            f"estimator.model_dir={depth_anything}", "estimator.fallback_median_depth=3.0"])
    a = store.stage_attrs(0, "geometry")
    assert a["source"] == "input+depth_anything" and a["depth_metric"] is False
    depth = np.asarray(store.read_stage(0, "geometry")["depth"])[0]
    # a relative model's depth, normalised to the knob's median, and not the constant plane
    assert np.median(depth) == pytest.approx(3.0, rel=1e-3) and depth.std() > 0


def test_pnp_poses_agree_with_the_commanded_trajectory(tmp_path):
    store = _run(tmp_path, ["estimator.pose=pnp", "resolution.height=96", "resolution.width=144", "splat.steps=30"])
    a = store.stage_attrs(1, "geometry")
    assert a["pose"] == "pnp" and a["residual_pose_frames_solved"] == 3
    # exact scene frames vs the cache's depth: PnP lands within 0.1 degree and 1 cm of the command
    # (measured 0.014 deg and 0.0018 here; 160x240 with 60 steps gave 0.012 deg and 0.0011 at five times the cost)
    assert a["residual_pose_rotation_deg"] < 0.1 and a["residual_pose_translation"] < 0.01



def test_a_path_that_outruns_the_cache_is_refused_in_one_line(tmp_path):
    """A pan of 15 degrees a frame turns 90 degrees between chunk 0's only view and chunk 1's first history frame
    (a 60-degree field of view): the cache sees nothing of it, so the ground-truth estimator has no depth to take.
    The CLI says which chunk and frame and what to do, exits 2, and chunk 0 stays in the store."""
    import subprocess

    from conftest import BIN, ROOT, cli_env

    sets = [o for o in TINY if not o.startswith("trajectory.distance")]
    sets += ["chunk.count=2", f"artifacts={tmp_path}", "tracking.mlflow=false", "trajectory.preset=pan_left",
             "trajectory.angle_deg=225"]
    res = subprocess.run([str(BIN / "worldwarp"), "run", "--run-id", "fast", *[a for o in sets for a in ("--set", o)]],
                         env=cli_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    line = res.stderr.strip().splitlines()[-1]
    assert "chunk 1: chunk 0's cache sees nothing of history frame 0 (video frame 6)" in line, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    from worldwarp.store import RunStore

    store = RunStore.open(tmp_path / "runs" / "fast.zarr")
    assert store.stage_status(0, "frames").complete and not store.stage_status(1, "geometry").complete
