"""Plain-Python settings of the ST-Diff denoiser (mirrors DiffusionConfig, so scripts need no pydantic)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class StDiffSettings:
    model_dir: str | None = None
    stdiff_weights: str | None = None
    prompt: str = "a photorealistic scene, steady camera motion, high detail"
    negative_prompt: str = "blurry, distorted, low quality, static, watermark"
    sampler: str = "tokenwise"
    strength: float = 0.8
    steps: int = 50
    sigma_start: float = 0.8
    sigma_filled: float = 1.0
    guidance_scale: float = 5.0
    guidance_interval: tuple[float, float] = (0.0, 1.0)
    shift: float = 3.0
    mask_pool: str = "min"
    history_pixels: str = "input"
    dtype: str = "auto"
    vae_dtype: str = "auto"
    offload: str = "none"
    vae_tiling: bool = False
    vae_slicing: bool = False
    attention: str = "auto"
    compile: bool | str = "auto"  # auto: on CUDA only
    time_table: bool = True
    step_cache: str = "none"
    step_cache_threshold: float = 0.05
    cfg_device: str | None = None
    text_len: int = 512
    prompt_cache: str | None = None
    keep_text_encoder: bool = False
    text_encoder_quantize: str = "none"

    @classmethod
    def from_config(cls, cfg) -> StDiffSettings:
        """From a DiffusionConfig (or anything with these attributes)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})
