"""The text prompt: fixed, or written by a VLM (Qwen2.5-VL) from the input image / history frames."""

from typing import Literal

from pydantic import Field

from .base import Section, When

_CAPTION = When("diffusion.backend is stdiff and prompt.captioner_dir is set (the classical filler takes no prompt)",
                lambda c: c.diffusion.backend == "stdiff" and c.prompt.captioner_dir is not None,
                ("diffusion.backend", "prompt.captioner_dir"))

DEFAULT_INSTRUCTION = (
    "Describe this scene as a prompt for a video generator: the setting, the main objects and their materials, "
    "the lighting and the style, in one or two sentences. Do not mention camera motion.")


class PromptConfig(Section):
    APPLIES = {
        "text": When("diffusion.backend is stdiff and no prompt.captioner_dir is set",
                     lambda c: c.diffusion.backend == "stdiff" and c.prompt.captioner_dir is None,
                     ("diffusion.backend", "prompt.captioner_dir")),
        "captioner_dir": When("diffusion.backend is stdiff (the classical filler takes no prompt)",
                              lambda c: c.diffusion.backend == "stdiff", ("diffusion.backend",)),
        **dict.fromkeys(("instruction", "per_chunk", "max_new_tokens", "max_image_side", "dtype", "cache_dir",
                             "quantize"), _CAPTION),
    }
    text: str | None = Field(None, description="fixed prompt; None: diffusion.prompt (used when no captioner is set)")
    captioner_dir: str | None = Field(None, description="local Qwen2.5-VL directory (transformers layout); None: no captioner")
    instruction: str = DEFAULT_INSTRUCTION
    per_chunk: bool = Field(False, description="caption every chunk from its history frames, not only the input image")
    max_new_tokens: int = Field(96, ge=1, le=1024)
    max_image_side: int = Field(448, ge=28, le=4096, description="longer image side given to the VLM (bounds vision tokens)")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="auto: bf16 on CUDA, fp32 on CPU")
    cache_dir: str | None = Field(None, description="JSON caption cache; default ~/.cache/worldwarp/captions")
    quantize: Literal["none", "int8"] = Field(
        "none", description="int8: the VLM's linear layers (not its output head) in int8 weight-only (torchao); "
        "Qwen2.5-VL-7B then holds about 9.4 GB instead of 16.6 GB; captions may change (measured on the tiny "
        "stand-in: docs/WEIGHTS.md §5). Filled by lowvram=true")
