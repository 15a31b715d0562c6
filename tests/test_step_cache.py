"""diffusion.step_cache=first_block: threshold 0 is the exact path; a loose threshold skips the other blocks on
most steps (counted by the blocks that really ran); no state leaks from one chunk into the next; CFG-on and
CFG-off steps keep separate states; both samplers and a whole chunk follow the config knob."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import make_denoiser, step_cache
from worldwarp.diffusion.official import level_matrix, official_loop, official_schedule, official_start, sigma_lookup
from worldwarp.diffusion.sampler import denoise_loop, noisy_start
from worldwarp.diffusion.schedule import global_sigmas
from test_time_table import _loop_inputs  # noqa: E402  (the same latent grid)
from worldwarp.diffusion.standins import TINY_TRANSFORMER, build_tiny_wan

STEPS = 10


def _model(kind="none", threshold=0.05):
    torch.manual_seed(0)
    tr = WanTransformer3DModel(**TINY_TRANSFORMER).eval()
    step_cache.enable_step_cache(tr, kind, threshold)
    return tr


@pytest.fixture
def block_runs():
    """Counts forwards in which the LAST block really computed (its self-attention ran)."""
    def attach(tr):
        runs = [0]
        tr.blocks[-1].attn1.register_forward_hook(lambda *a: runs.__setitem__(0, runs[0] + 1))
        return runs
    return attach


def _inputs(tr):
    """test_time_table's loop inputs (same latent grid), with each token's start level from its validity."""
    z_warp, noise, cond, uncond, valid = _loop_inputs(tr)
    sigma0 = torch.where(valid[:, ::2, ::2], 0.8, 1.0).double()
    sigma0[0] = 0.0  # a history latent frame
    return z_warp, noise, cond, uncond, sigma0, valid


def _tokenwise(tr, guidance=5.0, interval=(0.0, 1.0)):
    z_warp, noise, cond, uncond, sigma0, _ = _inputs(tr)
    return denoise_loop(tr, noisy_start(z_warp, sigma0, noise), sigma0, global_sigmas(STEPS, 3.0), cond, uncond,
                        guidance, interval)


def test_threshold_zero_is_the_exact_path(block_runs):
    ref, ref_stats = _tokenwise(_model())
    tr = _model("first_block", 0.0)
    runs = block_runs(tr)
    out, stats = _tokenwise(tr)
    assert stats.cached_forwards == 0 and runs[0] == stats.forwards == ref_stats.forwards
    assert float((out - ref).abs().max()) <= 1e-6  # measured 0


def test_a_loose_threshold_skips_blocks_and_costs_accuracy(block_runs):
    ref, _ = _tokenwise(_model())
    tr = _model("first_block", 0.5)
    runs = block_runs(tr)
    out, stats = _tokenwise(tr)
    # every reused forward skipped the other blocks; the first step of a loop always computes
    assert stats.cached_forwards > stats.forwards // 2 and runs[0] == stats.forwards - stats.cached_forwards >= 1
    diff = float((out - ref).abs().max())
    assert torch.isfinite(out).all() and diff > 1e-4, diff


def test_no_state_leaks_between_loops_and_batches_keep_their_own_state(block_runs):
    tr = _model("first_block", 0.5)
    # CFG only on the noisier steps: batch 2 then batch 1; a shared state would add (1, ...) and (2, ...) residuals
    a, sa = _tokenwise(tr, interval=(0.5, 1.0))
    assert 0 < sa.guided_forwards < sa.forwards
    b, sb = _tokenwise(tr, interval=(0.5, 1.0))  # the next chunk: starts from a fresh state, same result
    assert torch.equal(a, b) and sa.cached_forwards == sb.cached_forwards > 0


def test_official_loop_reports_cached_forwards():
    tr = _model("first_block", 0.5)
    z_warp, noise, cond, uncond, _, valid = _inputs(tr)
    timesteps, sigmas = official_schedule(STEPS, 5.0)
    levels = level_matrix(valid, 1, timesteps, 0.8)
    z = official_start(z_warp, noise, levels, sigma_lookup(levels[0], timesteps, sigmas), 1)
    info: dict = {}
    out, forwards = official_loop(tr, z, levels, timesteps, sigmas, cond, uncond, 5.0, info=info)
    assert 0 < info["cached_forwards"] < forwards and torch.isfinite(out).all()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown diffusion.step_cache 'teacache'"):
        step_cache.enable_step_cache(_model(), "teacache", 0.1)


@pytest.mark.parametrize("sampler", ["tokenwise", "official"])
def test_whole_chunk_follows_the_config_knob(tmp_path_factory, tmp_path, sampler):
    model_dir = build_tiny_wan(tmp_path_factory.mktemp("tiny_wan"))
    F, H, W = 9, 64, 96
    warped = torch.rand(F, H, W, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(F, H, W)
    mask[5:, :, 48:] = 0
    res = {}
    for kind in ("none", "first_block"):
        den = make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(model_dir), steps=8, sampler=sampler,
                                            step_cache=kind, step_cache_threshold=0.5,
                                            prompt_cache=str(tmp_path / "prompts")))
        res[kind] = [den(warped * mask[..., None], mask, 5, seed=3, progress=False) for _ in range(2)]
    assert res["none"][0].info["cached_forwards"] == 0
    fast = res["first_block"]
    assert fast[0].info["cached_forwards"] > 0 and torch.equal(fast[0].frames, fast[1].frames)  # chunk to chunk
    assert not torch.equal(fast[0].frames, res["none"][0].frames)


def test_fast_modes_benchmark_runs_small_and_reports_what_it_measured(tmp_path):
    import json
    import subprocess

    from conftest import BIN, ROOT, cli_env

    res = subprocess.run([str(BIN / "python"), str(ROOT / "benchmarks/fast_modes_gpu.py"), "--tiny", "--out",
                          str(tmp_path)], env=cli_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    d = json.loads((tmp_path / "fast_modes_gpu.json").read_text())
    rows = {r["name"]: r for r in d["rows"] if not r.get("warmup")}
    assert not [r for r in d["rows"] if "error" in r]
    # on the CPU nothing is compiled: the "compiled" row is the eager path exactly
    assert rows["compiled"]["vs_eager"]["latent_max_abs"] == 0
    assert rows["steps-4"]["forwards"] == 4 and rows["steps-4"]["vs_eager"]["latent_max_abs"] > 0
    assert rows["fbcache-0.2"]["cached_forwards"] > 0 and d["fbcache_rerun_bitwise_equal"] is True
    assert d["env"]["device"] == "cpu" and d["model"] == "random weights"
