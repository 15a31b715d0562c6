"""lowvram=true: the knobs it fills and refuses, int8 prompt models (torchao, for real), and models that live for
their stage only: freed (garbage-collected) after it, reloaded the next chunk, with a bit-identical store."""

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, assert_same_run

from worldwarp.config import ConfigError, load_params, validate
from worldwarp.config.applies import check_knobs

ROOT = Path(__file__).resolve().parents[1]
STDIFF = ["diffusion.backend=stdiff"]


def test_fills_only_the_knobs_left_unset():
    cfg = load_params(None, [*STDIFF, "lowvram=true"])
    d = cfg.diffusion
    assert (d.offload, d.keep_text_encoder, d.vae_tiling, d.text_encoder_quantize) == ("model", False, True, "int8")
    assert cfg.prompt.quantize == "int8"
    mine = load_params(None, [*STDIFF, "lowvram=true", "diffusion.offload=group", "diffusion.vae_tiling=false",
                              "prompt.quantize=none"])
    assert (mine.diffusion.offload, mine.diffusion.vae_tiling, mine.prompt.quantize) == ("group", False, "none")
    assert mine.diffusion.text_encoder_quantize == "int8"  # still filled
    off = load_params(None, STDIFF)
    assert (off.diffusion.offload, off.diffusion.vae_tiling, off.prompt.quantize) == ("none", False, "none")


def test_composes_with_a_profile_and_params_yaml():
    cfg = load_params(ROOT / "params.yaml", [*STDIFF, "lowvram=true", "profile=official"])
    assert cfg.diffusion.sampler == "official" and cfg.diffusion.offload == "model" and cfg.lowvram


@pytest.mark.parametrize("knob, shown", [
    ("diffusion.offload=none", "diffusion.offload='none'"),
    ("diffusion.offload=false", "diffusion.offload='none'"),  # the old boolean spelling
    ("diffusion.keep_text_encoder=true", "diffusion.keep_text_encoder=True"),
    ("diffusion.cfg_device=cuda:1", "diffusion.cfg_device='cuda:1'"),
])
def test_a_contradicting_knob_is_an_error_naming_both(knob, shown):
    with pytest.raises(ConfigError) as e:
        load_params(None, [*STDIFF, "lowvram=true", knob])
    msg = str(e.value)
    assert "lowvram=true needs" in msg and shown in msg and "\n" not in msg
    load_params(None, [*STDIFF, knob])  # fine without lowvram


def test_lowvram_without_any_model_is_refused_like_any_unused_knob():
    cfg = load_params(None, [*TINY, "lowvram=true"])  # classical filler, ground-truth geometry
    with pytest.raises(ConfigError, match="lowvram is not used by this run"):
        check_knobs(cfg, ["lowvram=true"])
    check_knobs(load_params(None, [*TINY, "lowvram=true", "estimator.backend=ttt3r"]), ["lowvram=true"])


def test_run_ids_and_keys_stay_as_they_were():
    from stages.keys import all_keys, stage_params
    from stages.runner import run_params, run_settings

    plain = load_params(None, [*STDIFF, "diffusion.offload=model"])
    low = load_params(None, [*STDIFF, "lowvram=true", "diffusion.vae_tiling=false", "prompt.quantize=none",
                             "diffusion.text_encoder_quantize=none"])
    # lowvram alone changes no number: the same resolved knobs give the same run id and keys
    assert run_params(plain) == run_params(low) and all_keys(plain, "d") == all_keys(low, "d")
    assert "text_encoder_quantize" not in run_params(plain)["diffusion"]  # a default of a later knob: unkeyed
    assert "quantize" not in stage_params(plain, "denoise", 0)["prompt"]
    int8 = load_params(None, [*STDIFF, "lowvram=true"])
    assert stage_params(int8, "denoise", 0)["prompt"]["quantize"] == "int8"
    # a resume (the store's params + settings) frees models as the run did
    assert validate({**run_params(int8), **run_settings(int8)}).lowvram
    assert "lowvram" not in run_settings(plain)


# ---- int8 prompt models, through the real loaders and torchao ----

@pytest.fixture(scope="module")
def wan_dir(tmp_path_factory):
    from worldwarp.diffusion.standins import build_tiny_wan

    return build_tiny_wan(tmp_path_factory.mktemp("wan"))


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    from worldwarp.prompts.standins import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("vlm"))


def test_int8_text_encoder(wan_dir, tmp_path):
    from worldwarp.diffusion.text import PromptEncoder

    exact, int8 = PromptEncoder(wan_dir, tmp_path / "p"), PromptEncoder(wan_dir, tmp_path / "p", quantize="int8")
    prompt = "a forest road at night with light"
    a, b = exact(prompt), int8(prompt)
    rel = float((a - b).norm() / a.norm())
    assert 0 < rel < 0.03  # measured 0.9-1.2 % on the stand-in (docs/WEIGHTS.md §5)
    assert exact._cache_file(prompt) != int8._cache_file(prompt)  # never served one another's embeddings
    int8.keep_encoder = True
    int8("a city street")
    assert type(int8._encoder.encoder.block[0].layer[0].SelfAttention.q.weight).__name__ == "Int8Tensor"


def test_int8_captioner(vlm_dir, tmp_path):
    from worldwarp.prompts import Captioner

    kw = dict(instruction="Describe this scene.", max_new_tokens=8)
    exact = Captioner.from_pretrained(vlm_dir, cache_dir=tmp_path / "c", **kw)
    int8 = Captioner.from_pretrained(vlm_dir, cache_dir=tmp_path / "c", quantize="int8", **kw)
    lm = int8.model.model.language_model.layers[0].mlp.up_proj.weight
    assert type(lm).__name__ == "Int8Tensor" and int8.model.lm_head.weight.dtype == torch.float32  # head kept
    assert int8.model_id == exact.model_id + "#int8"  # its own caption cache keys
    image = torch.rand(40, 56, 3, generator=torch.Generator().manual_seed(0))
    assert int8.caption(image)  # equal to the exact caption on 20 of 20 images (docs/WEIGHTS.md §5)


# ---- stage-scoped models in the pipeline ----

@pytest.fixture(scope="module")
def ttt3r(tmp_path_factory):
    from worldwarp.estimators.ttt3r.standin import build_tiny_ttt3r

    return build_tiny_ttt3r(tmp_path_factory.mktemp("ttt3r"))


def _spy(monkeypatch, owner, name: str, loaded: list) -> None:
    """Record a weak reference to every model ``owner.name`` loads (the real loader runs)."""
    real = getattr(owner, name)

    def load(*a, **kw):
        out = real(*a, **kw)
        loaded.append(weakref.ref(out))
        return out
    monkeypatch.setattr(owner, name, load)


def _run(tmp_path, name, models, extra):
    from stages.runner import run_longshot

    wan, vlm, ttt3r = models
    cfg = load_params(None, [
        *TINY, "splat.steps=5", *STDIFF, f"diffusion.model_dir={wan}", "diffusion.steps=2",
        f"diffusion.prompt_cache={tmp_path / name / 'prompts'}", f"prompt.captioner_dir={vlm}", "prompt.per_chunk=true",
        f"prompt.cache_dir={tmp_path / name / 'captions'}", "prompt.max_new_tokens=6", "estimator.backend=ttt3r",
        f"estimator.model_dir={ttt3r}", "estimator.ttt3r_size=64", f"artifacts={tmp_path / name}",
        "tracking.mlflow=false", *extra])
    return run_longshot(cfg, name)


def test_models_live_for_their_stage_and_the_store_is_bit_identical(tmp_path, monkeypatch, wan_dir, vlm_dir, ttt3r):
    import worldwarp.estimators
    from stages import denoise, geometry
    from worldwarp.diffusion.text import PromptEncoder

    geometry._depth_model.cache_clear(), denoise._captioner.cache_clear()
    estimators, captioners, encoders = [], [], []
    _spy(monkeypatch, worldwarp.estimators, "make_estimator", estimators)
    _spy(monkeypatch, denoise, "load_captioner", captioners)
    real_load = PromptEncoder._load_encoder
    monkeypatch.setattr(PromptEncoder, "_load_encoder",
                        lambda self: (real_load(self), encoders.append(weakref.ref(self._encoder)))[0])
    models = (wan_dir, vlm_dir, ttt3r)

    plain = _run(tmp_path, "plain", models, [])
    assert (len(estimators), len(captioners)) == (1, 1)  # loaded once, kept for every chunk
    gc.collect()
    assert estimators[0]() is not None and captioners[0]() is not None
    geometry._depth_model.cache_clear(), denoise._captioner.cache_clear()
    estimators.clear(), captioners.clear(), encoders.clear()

    # exact prompt models, so the run must equal the plain one bit for bit: only what is held when changes
    low = _run(tmp_path, "low", models, ["lowvram=true", "prompt.quantize=none", "diffusion.text_encoder_quantize=none"])
    # TTT3R for chunks 1 and 2 (chunk 0's depth is the scene's), a caption per chunk: each loaded again
    assert (len(estimators), len(captioners)) == (2, 3)
    assert geometry._depth_model.cache_info().currsize == denoise._captioner.cache_info().currsize == 0
    gc.collect()
    assert encoders and all(r() is None for r in estimators + captioners + encoders)  # freed, not just uncached
    assert_same_run(plain, low)
    prompts = [low.stage_attrs(k, "frames")["prompt"] for k in range(3)]
    assert prompts == [plain.stage_attrs(k, "frames")["prompt"] for k in range(3)]


def test_int8_pipeline_differs_only_by_its_embeddings(tmp_path, wan_dir, vlm_dir, ttt3r):
    """With int8 prompt models the frames move a little (the embeddings do), nothing upstream of denoise does."""
    models = (wan_dir, vlm_dir, ttt3r)
    plain = _run(tmp_path, "plain", models, ["chunk.count=1"])
    low = _run(tmp_path, "low", models, ["chunk.count=1", "lowvram=true"])
    for stage in ("geometry", "gaussians", "warp"):
        a, b = plain.read_stage(0, stage), low.read_stage(0, stage)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    fa, fb = plain.read_stage(0, "frames")["rgb"], low.read_stage(0, "frames")["rgb"]
    diff = np.abs(fa - fb).max()
    assert 0 < diff < 0.05, diff


@pytest.mark.slow
def test_the_gpu_benchmark_runs_its_tiny_cpu_path(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import cli_env

    cmd = [sys.executable, str(ROOT / "benchmarks/lowvram_gpu.py"), "--tiny", "--out", str(tmp_path / "out"),
           "--weights", str(tmp_path / "w"), "--modes", "lowvram", "--chunks", "1", "--steps", "1"]
    res = subprocess.run(cmd, env=cli_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "out" / "lowvram_gpu.json").read_text())
    (mode,) = out["modes"]
    assert mode["ok"] and mode["knobs"]["lowvram"] and mode["knobs"]["prompt.quantize"] == "int8"
    parts = {r["segment"] for r in mode["segments"]}
    assert {"0/geometry", "0/denoise/caption", "0/denoise/text", "0/denoise/transformer+vae-decode"} <= parts
    assert out["int8_effect"]["captions"] == 20 and max(out["int8_effect"]["embedding_rel_l2"]) < 0.03
