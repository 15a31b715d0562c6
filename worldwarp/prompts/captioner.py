"""Scene prompts: a fixed text, or Qwen2.5-VL (local directory, transformers layout) describing an image.

transformers is imported only when a captioner is loaded. The processor is assembled from the directory's
tokenizer and image processor rather than ``AutoProcessor``, because AutoProcessor also loads the video processor,
which needs torchvision. ``Qwen2_5_VLProcessor(image_processor, tokenizer)`` alone does not work either: the
processor checks every sub-processor in its signature against its base class, ``video_processor=None`` included
(an AttributeError here, without torchvision), so an image+text subclass without that argument is used. The chat
template is the tokenizer's, else the processor's ``chat_template.json`` / ``chat_template.jinja`` (released
Qwen2.5-VL directories hold it there too).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config.prompt import PromptConfig
from ..estimators.model_dir import check_model_dir, read_preprocessor_config
from ..quantize import load_quantized
from .cache import CaptionCache, image_digest

WHAT = "Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration + processor)"


def _image_text_processor():
    """Qwen2.5-VL's processor for images and text only (its sub-processors are read from ``__init__``'s signature)."""
    from transformers import Qwen2_5_VLProcessor

    class Qwen2_5_VLImageTextProcessor(Qwen2_5_VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    return Qwen2_5_VLImageTextProcessor


def _processor_chat_template(path: Path) -> str:
    import json

    if (f := path / "chat_template.jinja").is_file():
        return f.read_text()
    if (f := path / "chat_template.json").is_file():
        template = json.loads(f.read_text()).get("chat_template")
        if isinstance(template, str) and template:
            return template
    raise ValueError("no chat template (tokenizer_config.json, chat_template.jinja or chat_template.json)")


class Captioner:
    def __init__(self, model, processor, model_id: str, cache: CaptionCache, *, instruction: str,
                 max_new_tokens: int = 96, max_image_side: int = 448) -> None:
        self.model, self.processor, self.model_id, self.cache = model, processor, model_id, cache
        self.instruction, self.max_new_tokens, self.max_image_side = instruction, max_new_tokens, max_image_side

    @classmethod
    def from_pretrained(cls, path: str | Path, *, cache_dir: str | Path | None = None, torch_dtype=torch.float32,
                        device: str | torch.device = "cpu", instruction: str, max_new_tokens: int = 96,
                        max_image_side: int = 448, quantize: str = "none") -> "Captioner":
        """``quantize="int8"``: the linear layers in int8 weight-only (worldwarp/quantize.py); its captions are
        cached apart from the exact model's."""
        from ..diffusion.checkpoint import CheckpointError

        check_model_dir(path, ("qwen2_5_vl",), WHAT)
        read_preprocessor_config(path, WHAT)
        from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        try:
            tok = AutoTokenizer.from_pretrained(str(path))
            template = tok.chat_template or _processor_chat_template(Path(path))
            improc = Qwen2VLImageProcessorPil.from_pretrained(str(path))
            proc = _image_text_processor()(image_processor=improc, tokenizer=tok, chat_template=template)
            model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(path), dtype=torch_dtype)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"{path} could not be loaded as {WHAT}: {first}") from e
        model = load_quantized(model, quantize, device).eval()
        # the model id keys the caption cache: int8 captions may differ, exact ones keep the keys they had
        model_id = str(Path(path).resolve()) + ("" if quantize == "none" else f"#{quantize}")
        return cls(model, proc, model_id, CaptionCache(cache_dir), instruction=instruction,
                   max_new_tokens=max_new_tokens, max_image_side=max_image_side)

    def _generate(self, image: torch.Tensor) -> str:
        from PIL import Image

        a = (image.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype("uint8")
        pil = Image.fromarray(a)
        pil.thumbnail((self.max_image_side, self.max_image_side))
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.instruction}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[text], images=[pil], return_tensors="pt").to(self.model.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)  # greedy
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new, skip_special_tokens=True)[0].strip()

    def caption(self, image: torch.Tensor) -> str:
        """Prompt for an image (H, W, 3) in [0, 1]; cached by image digest + model id + instruction."""
        key = CaptionCache.key(image_digest(image), self.model_id, self.instruction, self.max_new_tokens)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        text = self._generate(image)
        self.cache.put(key, text, model=self.model_id, instruction=self.instruction)
        return text


def load_captioner(cfg: PromptConfig, device: str | torch.device = "cpu") -> Captioner | None:
    """The captioner of ``prompt.captioner_dir`` on ``device`` (None when no directory is set); dtype ``auto`` is
    bf16 on CUDA and fp32 elsewhere."""
    if not cfg.captioner_dir:
        return None
    dev = torch.device(device)
    name = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if dev.type == "cuda" else "float32")
    return Captioner.from_pretrained(Path(cfg.captioner_dir).expanduser(), cache_dir=cfg.cache_dir,
                                     torch_dtype=getattr(torch, name), device=dev, instruction=cfg.instruction,
                                     max_new_tokens=cfg.max_new_tokens, max_image_side=cfg.max_image_side,
                                     quantize=cfg.quantize)


def fixed_prompt(cfg: PromptConfig, default: str) -> str:
    """The fixed prompt: prompt.text, else ``default`` (the caller passes diffusion.prompt)."""
    return cfg.text if cfg.text else default


def chunk_prompt(cfg: PromptConfig, default: str, chunk: int, image: torch.Tensor | None,
                 captioner: Captioner | None, previous: str | None = None) -> str:
    """The prompt of chunk ``chunk``: fixed without a captioner; else a caption of ``image`` (the input image for
    chunk 0, the newest history frame later when ``per_chunk``), reusing ``previous`` otherwise. An empty caption
    falls back to the fixed prompt."""
    if chunk > 0 and not cfg.per_chunk and previous:
        return previous
    if captioner is None or image is None:
        return previous or fixed_prompt(cfg, default)
    return captioner.caption(image) or fixed_prompt(cfg, default)  # an empty caption is no prompt
