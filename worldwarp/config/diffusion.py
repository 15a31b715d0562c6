"""The denoiser: ST-Diff on the Wan backbone, or the weightless classical filler."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section, When

_B = ("diffusion.backend",)
_STDIFF = When("diffusion.backend is stdiff", lambda c: c.diffusion.backend == "stdiff", _B)
_CLASSICAL = When("diffusion.backend is classical", lambda c: c.diffusion.backend == "classical", _B)


def _sampler(name: str) -> When:
    return When(f"diffusion.backend is stdiff with diffusion.sampler={name}",
                lambda c: c.diffusion.backend == "stdiff" and c.diffusion.sampler == name, ("diffusion.backend", "diffusion.sampler"))


_STDIFF_ONLY = ("model_dir", "stdiff_weights", "prompt", "negative_prompt", "sampler", "steps", "guidance_scale", "shift",
                "history_pixels", "dtype", "vae_dtype", "offload", "vae_tiling", "vae_slicing", "attention", "compile",
                "time_table", "step_cache", "cfg_device", "text_len", "prompt_cache", "keep_text_encoder",
                "text_encoder_quantize")

# diffusers' attention-backend names that make sense here, and "fa4": PyTorch SDPA running FlashAttention-4 kernels
# (worldwarp/diffusion/flash4.py). "auto": fa4 where it runs (CUDA, Hopper/Blackwell, flash-attn-4), else SDPA
AttentionName = Literal[
    "auto", "native", "fa4", "flash", "_flash_3", "sage", "xformers", "flex",
    "_native_cudnn", "_native_efficient", "_native_flash", "_native_math",
]


class DiffusionConfig(Section):
    APPLIES = {
        **dict.fromkeys(_STDIFF_ONLY, _STDIFF),
        "strength": _sampler("official"),
        **dict.fromkeys(("sigma_start", "sigma_filled", "guidance_interval", "mask_pool"), _sampler("tokenwise")),
        "step_cache_threshold": When("diffusion.step_cache is first_block (stdiff)", lambda c: c.diffusion.backend ==
                                     "stdiff" and c.diffusion.step_cache == "first_block", ("diffusion.step_cache",)),
        "temporal_smoothing": _CLASSICAL,
    }
    backend: Literal["classical", "stdiff"] = Field("classical", description="classical: weightless hole filler; stdiff: Wan2.1 + ST-Diff")
    model_dir: str | None = Field(None, description="local Wan2.1-T2V-1.3B-Diffusers directory")
    stdiff_weights: str | None = Field(
        None, description="fine-tuned ST-Diff transformer: the released worldwarp_latest.ckpt, or a .safetensors/"
        ".ckpt/.pt/.pth/.bin file or a directory of them (torch files are read with weights_only)")
    prompt: str = "a photorealistic scene, steady camera motion, high detail"
    negative_prompt: str = "blurry, distorted, low quality, static, watermark"
    sampler: Literal["official", "tokenwise"] = Field(
        "tokenwise", description="official: the authors' sampler (diffusers FlowMatchEuler schedule, warped latents "
        "start at step int((1-strength)*steps), one level per latent, token timestep from its top-left latent); "
        "tokenwise: this project's (warped tokens start at sigma_start, one level per token)")
    strength: float = Field(0.8, ge=0, le=1, description="official sampler: the paper's tau; warped latents start at "
                            "global step int((1 - strength) * steps)")
    steps: int = Field(50, ge=1, le=1000)
    sigma_start: float = Field(0.8, ge=0, le=1, description="noise level of valid (warped) tokens")
    sigma_filled: float = Field(1.0, ge=0, le=1, description="noise level of hole tokens")
    guidance_scale: float = Field(5.0, ge=1.0, le=30.0, description="1.0 disables classifier-free guidance")
    guidance_interval: tuple[float, float] = Field(
        (0.0, 1.0), description="CFG only on steps whose global sigma lies in [lo, hi]; other steps run the cond branch alone "
                                 "(tokenwise sampler; the official sampler guides every step, as the authors' does)")
    shift: float = Field(3.0, gt=0, le=20, description="flow-matching timestep shift (Wan2.1 480p: 3.0)")
    mask_pool: Literal["min", "mean"] = Field(
        "min", description="token validity from its pixels: min = valid only if every pixel is; mean = fraction valid")
    history_pixels: Literal["input", "decoded"] = Field(
        "input", description="history frames of the result: the clean input frames, or their VAE decode")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="transformer dtype; auto: bf16 on CUDA, fp32 on CPU")
    vae_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="auto: float32 (as Wan ships)")
    offload: Literal["none", "model", "group"] = Field(
        "none", description="none: all on the device; model: each model moves to the device only while used; group: block-level streaming")
    vae_tiling: bool = False
    vae_slicing: bool = False
    attention: AttentionName = Field(
        "auto", description="attention kernel: auto = fa4 where it runs (CUDA compute capability 9/10 with flash-attn-4 "
                            "installed; -7.5 % per forward at bf16 rounding, docs/BENCHMARKS.md §12), else native (PyTorch "
                            "SDPA; compiled, it takes cuDNN's kernel); fa4 asked for by name fails in one line where it cannot run")
    compile: bool | Literal["auto"] = Field(
        "auto", description="torch.compile the repeated transformer blocks (the first chunk pays the compile); auto: on "
                            "CUDA (-32 % per step at bf16 rounding, docs/BENCHMARKS.md §8), off on the CPU")
    time_table: bool = Field(True, description="compute the per-token time embedding once per distinct noise level "
                                               "and gather it (same numbers, less work; docs/BENCHMARKS.md §8)")
    step_cache: Literal["none", "first_block"] = Field(
        "none", description="first_block: diffusers' First Block Cache, skip the other blocks on steps whose first-block "
                            "residual changed by less than step_cache_threshold (a fast mode with a quality cost, "
                            "docs/BENCHMARKS.md §10; works with per-token timesteps)")
    step_cache_threshold: float = Field(0.05, ge=0, le=1, description="relative mean change of the first block's "
                                        "residual below which a step reuses the cached blocks (0: never)")
    cfg_device: str | None = Field(
        None, description="a second device (e.g. cuda:1) for the unconditional half of classifier-free guidance: a copy "
                          "of the transformer runs it there while the main device runs the conditional half (one "
                          "batch-1 forward per guided step instead of one batch-2; docs/SCALING.md). None: both halves "
                          "in one batched forward on the main device")
    text_len: int = Field(512, ge=8, le=4096, description="prompt tokens (Wan2.1: 512)")
    prompt_cache: str | None = Field(None, description="directory of cached prompt embeddings; default ~/.cache/worldwarp/prompts")
    keep_text_encoder: bool = Field(False, description="keep the text encoder loaded after encoding (it is large)")
    text_encoder_quantize: Literal["none", "int8"] = Field(
        "none", description="int8: the umT5 encoder's linear layers in int8 weight-only (torchao; half of bf16, so "
        "about 6.7 GB instead of 11.4 GB with its bf16 embedding table); the embeddings change slightly (measured on "
        "the tiny stand-in: docs/WEIGHTS.md §5). Filled by lowvram=true")
    classical_fill: Literal["depth_aware", "pushpull"] = Field(
        "pushpull", description="classical backend: depth_aware fills holes from the farther surface around them, once "
        "per 3D point (worldwarp/diffusion/background_fill.py); pushpull: push-pull with temporal smoothing")
    temporal_smoothing: float = Field(0.5, ge=0, lt=1, description="classical backend (both fills): weight of the "
                                      "previous output frame in hole pixels")

    @field_validator("offload", mode="before")
    @classmethod
    def _offload_bool(cls, v):
        # older params files say offload: true/false
        return {True: "model", False: "none"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="after")
    def _check(self) -> "DiffusionConfig":
        if self.sigma_start > self.sigma_filled:
            raise ValueError("diffusion.sigma_start must not exceed diffusion.sigma_filled")
        lo, hi = self.guidance_interval
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError("diffusion.guidance_interval must be 0 <= lo <= hi <= 1")
        if self.classical_fill == "depth_aware":  # knobs that do not apply are errors, not ignored
            if self.backend != "classical":
                raise ValueError("diffusion.classical_fill=depth_aware applies to diffusion.backend=classical only")
        if self.cfg_device is not None:
            if self.step_cache != "none":
                # the cache decides on the batched residual of both halves; split over two devices they would decide apart
                raise ValueError("diffusion.cfg_device cannot be combined with diffusion.step_cache")
            if self.offload != "none":
                raise ValueError("diffusion.cfg_device needs diffusion.offload=none")
        return self
