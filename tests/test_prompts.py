"""Fixed prompts, the caption cache, and the captioner loader's one-line errors (no Qwen2.5-VL weights needed)."""

import json

import pytest
import torch

from worldwarp.config.prompt import PromptConfig
from worldwarp.diffusion.checkpoint import CheckpointError
from worldwarp.prompts import CaptionCache, Captioner, chunk_prompt, fixed_prompt, image_digest


def test_fixed_prompt_needs_no_model():
    assert fixed_prompt(PromptConfig(), "from diffusion") == "from diffusion"
    assert fixed_prompt(PromptConfig(text="a quiet harbour"), "x") == "a quiet harbour"
    assert chunk_prompt(PromptConfig(), "d", 3, torch.rand(8, 8, 3), None) == "d"


class _Counting(Captioner):
    def __init__(self, cache_dir):
        super().__init__(None, None, "tiny-model", CaptionCache(cache_dir), instruction="describe")
        self.calls = 0

    def _generate(self, image):
        self.calls += 1
        return f"caption {self.calls}"


def test_captions_are_cached_by_image_model_and_instruction(tmp_path):
    img = torch.randint(0, 256, (8, 8, 3), generator=torch.Generator().manual_seed(0)) / 255.0
    c = _Counting(tmp_path)
    assert c.caption(img) == "caption 1" and c.caption(img + 1e-4) == "caption 1" and c.calls == 1
    assert _Counting(tmp_path).caption(img) == "caption 1"  # a re-run reads the JSON file
    c.instruction = "other"
    assert c.caption(img) == "caption 2"
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 2 and json.loads(files[0].read_text())["model"] == "tiny-model"
    files[0].write_text("{torn")  # a broken entry is recomputed, not an error
    assert image_digest(img) != image_digest(img.flip(0))


def test_per_chunk_captioning(tmp_path):
    c = _Counting(tmp_path)
    imgs = [torch.full((4, 4, 3), v) for v in (0.1, 0.5, 0.9)]
    cfg = PromptConfig()
    p0 = chunk_prompt(cfg, "d", 0, imgs[0], c)
    assert chunk_prompt(cfg, "d", 1, imgs[1], c, previous=p0) == p0  # per_chunk off: keep chunk 0's prompt
    assert chunk_prompt(PromptConfig(per_chunk=True), "d", 2, imgs[2], c, previous=p0) == "caption 2"


def test_captioner_loader_errors(tmp_path):
    kw = dict(instruction="describe")
    with pytest.raises(CheckpointError, match="model directory not found"):
        Captioner.from_pretrained(tmp_path / "nope", **kw)
    with pytest.raises(CheckpointError, match="has no config.json"):
        Captioner.from_pretrained(tmp_path, **kw)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(CheckpointError, match="model_type 'qwen2_vl'; expected 'qwen2_5_vl'") as e:
        Captioner.from_pretrained(tmp_path, **kw)
    assert "\n" not in str(e.value)
