"""profile=official end to end on the CPU: the tiny random Wan through the pipeline, its noise-schedule picture in MLflow."""

import numpy as np
import pytest
from conftest import TINY

from worldwarp.config import load_params
from worldwarp.diffusion.standins import build_tiny_wan


@pytest.mark.slow
def test_official_profile_runs_a_chunk_and_logs_its_noise_schedule(tmp_path):
    import imageio.v3 as iio
    import mlflow

    from flows.tracking import Tracker, tracking_uri
    from stages.runner import run_longshot

    wan = build_tiny_wan(tmp_path / "wan")
    cfg = load_params(None, [*TINY, "profile=official", "chunk.count=1", "splat.steps=5", "diffusion.backend=stdiff",
                             f"diffusion.model_dir={wan}", "diffusion.steps=4", f"artifacts={tmp_path / 'art'}",
                             f"diffusion.prompt_cache={tmp_path / 'prompts'}"])
    assert cfg.diffusion.sampler == "official" and cfg.splat.mask == "official"
    store = run_longshot(cfg, "official")
    t_tok = np.asarray(store.read_array(0, "latents", "t_tok"))
    assert t_tok.shape == (5, 3, 4, 6)  # steps + 1, latent frames, token rows, token columns
    assert (t_tok[:, 0] == 0).all() and (t_tok[-1] == 0).all()  # 3 history frames = 1 history latent frame
    assert t_tok[0].max() == 1000.0  # the official mask leaves holes: they start as pure noise

    tracker = Tracker(cfg, store)
    tracker.start()
    rid = tracker.chunk(0)
    tracker.finish()
    client = mlflow.MlflowClient(tracking_uri(cfg))
    assert "noise_schedule.png" in {a.path for a in client.list_artifacts(rid)}
    img = iio.imread(client.download_artifacts(rid, "noise_schedule.png", str(tmp_path)))
    assert img.ndim == 3 and img.shape[0] > img.shape[1]  # 5 step rows of 3 latent-frame columns
