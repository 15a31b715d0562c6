"""The denoiser: ST-Diff on the Wan backbone, or the weightless classical filler."""

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


class DiffusionConfig(Section):
    backend: Literal["classical", "stdiff"] = Field("classical", description="classical: weightless hole filler; stdiff: Wan2.1 + ST-Diff")
    model_dir: str | None = Field(None, description="local Wan2.1-T2V-1.3B-Diffusers directory")
    stdiff_weights: str | None = Field(None, description="fine-tuned ST-Diff transformer (safetensors file or directory)")
    prompt: str = "a photorealistic scene, steady camera motion, high detail"
    negative_prompt: str = "blurry, distorted, low quality, static, watermark"
    steps: int = Field(50, ge=1, le=1000)
    sigma_start: float = Field(0.8, ge=0, le=1, description="noise level of valid (warped) tokens")
    sigma_filled: float = Field(1.0, ge=0, le=1, description="noise level of hole tokens")
    guidance_scale: float = Field(5.0, ge=1.0, le=30.0, description="1.0 disables classifier-free guidance")
    shift: float = Field(3.0, gt=0, le=20, description="flow-matching timestep shift")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    offload: bool = Field(False, description="model CPU offload (low VRAM)")
    vae_tiling: bool = False
    vae_slicing: bool = False
    attention: Literal["auto", "native", "flash", "_native_cudnn", "_native_efficient", "_native_flash"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> "DiffusionConfig":
        if self.sigma_start > self.sigma_filled:
            raise ValueError("diffusion.sigma_start must not exceed diffusion.sigma_filled")
        return self
