"""The captioner through its real loader, on a tiny random Qwen2.5-VL built in code, and prompts in the pipeline."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY

from worldwarp.config import load_params
from worldwarp.diffusion.checkpoint import CheckpointError
from worldwarp.prompts import Captioner, image_digest, load_captioner
from worldwarp.prompts.cache import CaptionCache
from worldwarp.prompts.standins import build_tiny_qwen2_5_vl

KW = dict(instruction="Describe this scene.", max_new_tokens=8)


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("vlm") / "tiny-qwen2.5-vl")


@pytest.fixture(scope="module")
def captioner(vlm_dir, tmp_path_factory):
    return Captioner.from_pretrained(vlm_dir, cache_dir=tmp_path_factory.mktemp("captions"), **KW)


def _image(seed: int, h: int = 40, w: int = 56) -> torch.Tensor:
    return torch.rand(h, w, 3, generator=torch.Generator().manual_seed(seed))


def test_standin_directory_is_consistent(vlm_dir):
    cfg = json.loads((vlm_dir / "config.json").read_text())
    tok = json.loads((vlm_dir / "tokenizer.json").read_text())
    added = {t["content"]: t["id"] for t in tok["added_tokens"]}
    assert cfg["model_type"] == "qwen2_5_vl"
    assert cfg["image_token_id"] == added["<|image_pad|>"] and cfg["video_token_id"] == added["<|video_pad|>"]
    assert cfg["vision_start_token_id"] == added["<|vision_start|>"]
    assert cfg["vision_end_token_id"] == added["<|vision_end|>"]
    assert {"<|im_start|>", "<|im_end|>", "<|endoftext|>"} <= set(added)
    pre = json.loads((vlm_dir / "preprocessor_config.json").read_text())
    v = cfg["vision_config"]
    assert (pre["patch_size"], pre["merge_size"], pre["temporal_patch_size"]) == (
        v["patch_size"], v["spatial_merge_size"], v["temporal_patch_size"])


def test_caption_through_the_real_loader(captioner, monkeypatch):
    calls = []
    generate = captioner.model.generate
    monkeypatch.setattr(captioner.model, "generate", lambda *a, **kw: calls.append(1) or generate(*a, **kw))
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}]
    text = captioner.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert "<|vision_start|><|image_pad|><|vision_end|>" in text

    img = _image(0)
    first = captioner.caption(img)
    assert isinstance(first, str) and first and len(calls) == 1
    key = CaptionCache.key(image_digest(img), captioner.model_id, KW["instruction"], KW["max_new_tokens"])
    assert json.loads((captioner.cache.root / f"{key}.json").read_text())["caption"] == first
    assert captioner.caption(img.clone()) == first and len(calls) == 1  # a cache hit: generate is not called
    assert captioner._generate(img) == first  # greedy: the model itself is deterministic too

    other = _image(1)
    key2 = CaptionCache.key(image_digest(other), captioner.model_id, KW["instruction"], KW["max_new_tokens"])
    assert key2 != key
    assert isinstance(captioner.caption(other), str) and len(calls) == 3
    assert (captioner.cache.root / f"{key2}.json").is_file()


def test_malformed_directories_are_one_line_errors(vlm_dir, tmp_path):
    wrong = tmp_path / "wrong-type"
    shutil.copytree(vlm_dir, wrong)
    cfg = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**cfg, "model_type": "qwen2_vl"}))
    with pytest.raises(CheckpointError, match="model_type 'qwen2_vl'") as e:
        Captioner.from_pretrained(wrong, cache_dir=tmp_path / "c", **KW)
    assert str(wrong) in str(e.value) and "\n" not in str(e.value)

    no_weights = tmp_path / "no-weights"
    shutil.copytree(vlm_dir, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(CheckpointError, match="has no weights") as e:
        Captioner.from_pretrained(no_weights, cache_dir=tmp_path / "c", **KW)
    assert str(no_weights) in str(e.value)

    no_processor = tmp_path / "no-processor"
    shutil.copytree(vlm_dir, no_processor, ignore=shutil.ignore_patterns("preprocessor_config.json"))
    with pytest.raises(CheckpointError, match="preprocessor_config.json") as e:
        Captioner.from_pretrained(no_processor, cache_dir=tmp_path / "c", **KW)
    assert str(no_processor) in str(e.value)


def test_chat_template_from_the_processor_files(vlm_dir, tmp_path, captioner):
    d = tmp_path / "template-json"
    shutil.copytree(vlm_dir, d)
    (d / "chat_template.json").write_text(json.dumps({"chat_template": (d / "chat_template.jinja").read_text()}))
    (d / "chat_template.jinja").unlink()
    c = Captioner.from_pretrained(d, cache_dir=tmp_path / "c", **KW)
    assert c.processor.chat_template == captioner.processor.chat_template
    (d / "chat_template.json").unlink()
    with pytest.raises(CheckpointError, match="no chat template") as e:
        Captioner.from_pretrained(d, cache_dir=tmp_path / "c", **KW)
    assert str(d) in str(e.value)


def test_cli_preflight_checks_the_captioner_dir(vlm_dir, tmp_path):
    from flows.checks import preflight

    preflight(load_params(None, [*TINY, f"prompt.captioner_dir={vlm_dir}"]), outputs=[tmp_path])  # fine
    with pytest.raises(CheckpointError, match="model directory not found") as e:
        preflight(load_params(None, [*TINY, f"prompt.captioner_dir={tmp_path / 'missing'}"]), outputs=[tmp_path])
    assert str(tmp_path / "missing") in str(e.value) and "\n" not in str(e.value)


def test_pipeline_records_the_prompt(vlm_dir, tmp_path):
    from stages import denoise
    from stages.keys import stage_params
    from stages.runner import run_longshot

    base = [*TINY, "chunk.count=2", "splat.steps=8", f"artifacts={tmp_path}", "tracking.mlflow=false"]
    cfg = load_params(None, [*base, f"prompt.captioner_dir={vlm_dir}", f"prompt.cache_dir={tmp_path / 'captions'}",
                             "prompt.max_new_tokens=8"])
    store = run_longshot(cfg)
    prompts = [store.stage_attrs(k, "frames")["prompt"] for k in range(2)]
    # a captioner with a fresh cache really computes the input image's caption
    fresh = load_captioner(cfg.prompt.model_copy(update={"cache_dir": str(tmp_path / "fresh")}))
    image = torch.from_numpy(np.asarray(store.read_input()["image"]))
    assert prompts[0] == prompts[1] == fresh.caption(image) != cfg.diffusion.prompt

    # per_chunk: chunk 1 is captioned from its newest history frame (the stage's own resolution, on this store)
    per_chunk = cfg.model_copy(update={"prompt": cfg.prompt.model_copy(update={"per_chunk": True})})
    newest = torch.from_numpy(np.asarray(store.read_stage(1, "geometry")["rgb"][-1]))
    assert denoise.resolve_prompt(store, 1, per_chunk) == fresh.caption(newest)
    key = CaptionCache.key(image_digest(newest), fresh.model_id, cfg.prompt.instruction, 8)
    assert (tmp_path / "captions" / f"{key}.json").is_file()  # the run's cache now holds that frame's caption
    assert stage_params(per_chunk, "denoise", 1) != stage_params(cfg, "denoise", 1)
    moved = cfg.model_copy(update={"prompt": cfg.prompt.model_copy(update={"cache_dir": str(tmp_path / "x")})})
    assert stage_params(moved, "denoise", 1) == stage_params(cfg, "denoise", 1)  # the cache's place is no knob

    plain = load_params(None, [*base, "chunk.count=1"])
    assert run_longshot(plain).stage_attrs(0, "frames")["prompt"] == plain.diffusion.prompt
