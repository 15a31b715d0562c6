"""MLflow tracking of a real tiny longshot, checked in the real MLflow UI with headless Chromium."""

import shutil
import subprocess

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import BIN, ROOT, cli_env, free_port, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.server]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000", "--virtual-time-budget=25000"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, ):
    from conftest import TINY

    root = tmp_path_factory.mktemp("mlf") / "artifacts"
    res = subprocess.run([str(BIN / "worldwarp"), "demo", "--set", f"artifacts={root}",
                          *[a for o in TINY for a in ("--set", o)], "--run-id", "ui"],
                         env=cli_env(HOME="/tmp"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def _client(root):
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def test_parent_and_child_runs_hold_what_a_user_looks_for(tracked):
    c = _client(tracked)
    exp = c.get_experiment_by_name("worldwarp")
    runs = c.search_runs([exp.experiment_id])
    parents = [r for r in runs if "worldwarp.chunk" not in r.data.tags]
    children = sorted((r for r in runs if "worldwarp.chunk" in r.data.tags), key=lambda r: int(r.data.tags["worldwarp.chunk"]))
    assert len(parents) == 1 and len(children) == 3
    p = parents[0]
    assert p.info.status == "FINISHED" and p.data.params["chunk.frames"] == "9"
    assert {a.path for a in c.list_artifacts(p.info.run_id)} >= {"input.png", "trajectory.png", "cameras.npz", "ui.mp4"}
    for ch in children:
        assert ch.data.tags["mlflow.parentRunId"] == p.info.run_id
        m = ch.data.metrics
        assert 0 <= m["hole_ratio"] <= 1 and m["gaussians"] > 0 and m["seconds_gaussians"] > 0
        assert m["valid_psnr_warp_vs_output"] > 30  # the classical filler keeps valid pixels
        if ch.data.tags["worldwarp.chunk"] != "0":  # the estimator's residuals: exact for ground truth
            assert m["residual_depth_scale"] == 1.0 and m["residual_pose_rotation_deg"] == 0.0
        curve = c.get_metric_history(ch.info.run_id, "splat_loss")
        assert len(curve) == 20 and curve[-1].value < curve[0].value
        names = {a.path for a in c.list_artifacts(ch.info.run_id)}
        k = int(ch.data.tags["worldwarp.chunk"])
        assert names == {f"chunk-{k:03d}.mp4", "contact_sheet.png", "cameras.npz", f"gaussians-{k:03d}.ply"}
        from worldwarp.splat import load_ply

        g = load_ply(c.download_artifacts(ch.info.run_id, f"gaussians-{k:03d}.ply", str(tracked.parent)))
        # the run's own SH degree (0 under the default longshot profile, 3 under official)
        assert len(g) == m["gaussians"] and g.sh_degree == int(p.data.params["splat.sh_degree"])


def test_resume_logs_no_duplicate_runs(tracked):
    res = subprocess.run([str(BIN / "worldwarp"), "resume", str(tracked / "runs" / "ui.zarr")],
                         env=cli_env(HOME="/tmp"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    c = _client(tracked)
    runs = c.search_runs([c.get_experiment_by_name("worldwarp").experiment_id])
    assert len(runs) == 4


def test_contact_sheet_shows_in_the_mlflow_ui(tracked, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is required (make test installs it)"
    c = _client(tracked)
    exp = c.get_experiment_by_name("worldwarp")
    child = next(r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("worldwarp.chunk") == "1")
    port = free_port()
    server = subprocess.Popen([str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{tracked / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health", timeout=90)
        url = f"{base}/#/experiments/{exp.experiment_id}/runs/{child.info.run_id}/artifacts/contact_sheet.png"
        common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        shot = tmp_path / "page.png"
        subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    # the artifact viewer shows the PNG as an <img> named after it, its bytes loaded from the server
    assert 'alt="contact_sheet.png"' in dom and 'src="blob:' in dom, dom[:2000]
    assert "chunk-001" in dom
    img = iio.imread(shot)
    assert img.shape[0] >= 900 and img.shape[1] >= 1300
    # the page is not blank: the rendered sheet brings many distinct colours
    assert len(np.unique(img.reshape(-1, img.shape[-1])[:, :3], axis=0)) > 500
