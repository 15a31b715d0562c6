"""ST-Diff behind the Denoiser interface: warped chunk + mask + history -> denoised frames."""

from __future__ import annotations

import time

import torch

from . import DenoiseResult
from .backbone import configure, load_backbone, on_device, prepare_transformer, resolve_dtype
from .cfg_split import UncondReplica
from .checkpoint import load_transformer_weights
from .latent_grid import history_latent_frames, latent_frame_count, pad_to_blocks, pool_mask_to_tokens, token_block
from .official import (level_matrix, official_latent_mask, official_loop, official_schedule, official_start,
                       sigma_lookup, token_timesteps)
from .sampler import denoise_loop, noisy_start, sync
from .schedule import NUM_TRAIN_TIMESTEPS, global_sigmas, start_levels, token_levels
from .settings import StDiffSettings
from .step_cache import enable_step_cache
from .text import PromptEncoder
from .vae_io import decode_latents, encode_frames


class StDiffDenoiser:
    """Wan2.1 backbone (+ fine-tuned ST-Diff transformer weights) with the per-token noise sampler."""

    def __init__(self, settings: StDiffSettings, device: str | torch.device = "cpu"):
        self.s, self.device = settings, torch.device(device)
        self.dtype = resolve_dtype(settings.dtype, self.device, torch.bfloat16)
        vae_dtype = resolve_dtype(settings.vae_dtype, self.device, torch.float32)
        self.bb = load_backbone(settings.model_dir, self.dtype, vae_dtype)
        if settings.stdiff_weights:
            load_transformer_weights(self.bb.transformer, settings.stdiff_weights)
        # without fine-tuned weights this is the plain Wan2.1 T2V backbone under the ST-Diff sampler
        self.name = "stdiff-wan2.1" if settings.stdiff_weights else "wan2.1-t2v-stnoise"
        compile_on = settings.compile if isinstance(settings.compile, bool) else self.device.type == "cuda"
        # hooks first: the compiled blocks then include them
        cached = enable_step_cache(self.bb.transformer, settings.step_cache, settings.step_cache_threshold)
        if settings.cfg_device and (cached or settings.offload != "none"):  # scripts build settings without the config
            raise ValueError("diffusion.cfg_device needs diffusion.step_cache=none and diffusion.offload=none")
        # the copy for the other CFG half is made before anything moves or compiles the transformer
        self.replica = UncondReplica(self.bb.transformer, torch.device(settings.cfg_device)) if settings.cfg_device else None
        self.attention = configure(self.bb, self.device, settings.offload, settings.attention,
                                   settings.vae_tiling, settings.vae_slicing, compile_on, fullgraph=not cached)
        if self.replica is not None:
            prepare_transformer(self.replica.model, self.replica.device, self.attention, compile_on)
        self.prompts = PromptEncoder(self.bb.model_dir, settings.prompt_cache, settings.text_len, self.device,
                                     self.dtype, settings.keep_text_encoder, settings.text_encoder_quantize)
        self.time_steps = False  # benchmarks set this to record per-step times

    @property
    def cfg_on(self) -> bool:
        return self.s.guidance_scale > 1.0

    def _embeds(self, prompt: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        texts = [prompt if prompt is not None else self.s.prompt] + ([self.s.negative_prompt] if self.cfg_on else [])
        embeds = self.prompts.many(texts)
        on_dev = [e[None].to(self.device, self.dtype) for e in embeds]
        return on_dev[0], (on_dev[1] if self.cfg_on else None)

    def _start_levels(self, mask: torch.Tensor, history: int) -> torch.Tensor:
        valid = pool_mask_to_tokens(mask, self.s.mask_pool)
        hist = torch.arange(valid.shape[0]) < history_latent_frames(history)
        return start_levels(valid, hist[:, None, None], self.s.sigma_start, self.s.sigma_filled)

    def _phase_peak(self, info: dict, phase: str) -> None:
        """Peak CUDA memory of the phase that just ended (weights resident at the time included)."""
        if self.device.type == "cuda":
            info[f"{phase}_peak_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
            torch.cuda.reset_peak_memory_stats(self.device)

    def _vae_mode(self) -> str:
        return "model" if self.s.offload != "none" else "none"  # group offload streams the transformer only

    def _encode(self, warped: torch.Tensor, mask: torch.Tensor, info: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised z_warp (1, C, T, h, w) on the device, and the padded mask (F, H', W')."""
        block = token_block()
        frames_p, _ = pad_to_blocks(warped.float().permute(0, 3, 1, 2), block)
        mask_p, _ = pad_to_blocks(mask.float(), block)
        t = time.perf_counter()
        with on_device(self.bb.vae, self.device, self._vae_mode()):
            z_warp = encode_frames(self.bb.vae, frames_p.permute(0, 2, 3, 1), self.device)
        sync(self.device)
        info["encode_s"] = time.perf_counter() - t
        self._phase_peak(info, "encode")
        return z_warp, mask_p

    def _noise(self, shape: torch.Size, seed: int) -> torch.Tensor:
        gen = torch.Generator("cpu").manual_seed(int(seed))  # CPU noise: the same seed gives the same chunk anywhere
        return torch.randn(shape, generator=gen, dtype=torch.float32).to(self.device)

    def _denoise_official(self, z_warp: torch.Tensor, mask_p: torch.Tensor, history: int, seed: int,
                          prompt: str | None, progress: bool, info: dict) -> tuple[torch.Tensor, dict]:
        """The authors' sampler (see ``official``): per-latent levels, token timesteps from top-left latents."""
        t = time.perf_counter()
        cond, uncond = self._embeds(prompt)
        info["text_s"] = time.perf_counter() - t
        timesteps, sigmas = official_schedule(self.s.steps, self.s.shift)
        levels = level_matrix(official_latent_mask(mask_p), history, timesteps, self.s.strength)
        start = sigma_lookup(levels[0], timesteps, sigmas).to(self.device)
        z_warp = z_warp.to(self.dtype).float()  # they hand the encoded warp to the sampler in the model's dtype
        z = official_start(z_warp, self._noise(z_warp.shape, seed), levels, start, history)
        t = time.perf_counter()
        with on_device(self.bb.transformer, self.device, "model" if self.s.offload == "model" else "none"):
            z, forwards = official_loop(self.bb.transformer, z, levels, timesteps, sigmas, cond, uncond,
                                        self.s.guidance_scale, progress, self.s.time_table, info, self.replica)
        sync(self.device)
        info.update(loop_s=time.perf_counter() - t, forwards=forwards, guided_forwards=forwards if uncond is not None else 0,
                    skipped_steps=self.s.steps - forwards)
        self._phase_peak(info, "loop")
        t_tok = torch.stack([token_timesteps(lv) for lv in levels])
        return z, {"sigma0": (t_tok[0] / NUM_TRAIN_TIMESTEPS).cpu(), "t_tok": t_tok.cpu()}

    def _denoise(self, z_warp: torch.Tensor, sigma0: torch.Tensor, seed: int, prompt: str | None,
                 progress: bool, info: dict) -> torch.Tensor:
        t = time.perf_counter()
        cond, uncond = self._embeds(prompt)
        info["text_s"] = time.perf_counter() - t
        noise = self._noise(z_warp.shape, seed)
        z = noisy_start(z_warp, sigma0.to(self.device), noise)
        t = time.perf_counter()
        with on_device(self.bb.transformer, self.device, "model" if self.s.offload == "model" else "none"):
            z, stats = denoise_loop(self.bb.transformer, z, sigma0, global_sigmas(self.s.steps, self.s.shift),
                                    cond, uncond, self.s.guidance_scale, tuple(self.s.guidance_interval),
                                    progress, self.time_steps, self.s.time_table, self.replica)
        info.update(loop_s=time.perf_counter() - t, forwards=stats.forwards, guided_forwards=stats.guided_forwards,
                    skipped_steps=stats.skipped_steps, cached_forwards=stats.cached_forwards)
        if stats.step_seconds:
            info["step_s"] = stats.step_seconds
        self._phase_peak(info, "loop")
        return z

    def _decode(self, z: torch.Tensor, n: int, H: int, W: int, info: dict) -> torch.Tensor:
        t = time.perf_counter()
        with on_device(self.bb.vae, self.device, self._vae_mode()):
            frames = decode_latents(self.bb.vae, z)[:n, :H, :W].cpu()
        sync(self.device)
        info["decode_s"] = time.perf_counter() - t
        self._phase_peak(info, "decode")
        return frames

    @torch.no_grad()
    def __call__(self, warped: torch.Tensor, mask: torch.Tensor, history: int, *, seed: int,
                 prompt: str | None = None, progress: bool = True) -> DenoiseResult:
        n, H, W = _check_inputs(warped, mask, history)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        info: dict = {"attention": self.attention, "steps": self.s.steps, "cfg": self.cfg_on,
                      "cfg_device": str(self.replica.device) if self.replica is not None else None}
        z_warp, mask_p = self._encode(warped, mask, info)
        if self.s.sampler == "official":
            z, sched = self._denoise_official(z_warp, mask_p, history, seed, prompt, progress, info)
        else:
            sigma0 = self._start_levels(mask_p, history)
            z = self._denoise(z_warp, sigma0, seed, prompt, progress, info)
            t_tok = token_levels(sigma0.double().flatten(), global_sigmas(self.s.steps, self.s.shift))
            sched = {"sigma0": sigma0.cpu(), "t_tok": (t_tok * NUM_TRAIN_TIMESTEPS).float().view(-1, *sigma0.shape)}
        frames = self._decode(z, n, H, W, info)
        if self.s.history_pixels == "input":
            # the history is the previous chunk's output: hand it back as it came, not through another VAE pass
            frames[:history] = warped[:history].float().clamp(0, 1)
        if self.device.type == "cuda":
            info["peak_gib"] = max(info[f"{p}_peak_gib"] for p in ("encode", "loop", "decode"))
        latents = {"z_warp": z_warp[0].cpu(), "z_out": z[0].cpu(), **sched}
        return DenoiseResult(frames=frames.contiguous(), latents=latents, info=info)


def _check_inputs(warped: torch.Tensor, mask: torch.Tensor, history: int) -> tuple[int, int, int]:
    if warped.ndim != 4 or warped.shape[-1] != 3:
        raise ValueError(f"warped must be (F, H, W, 3), got {tuple(warped.shape)}")
    n, H, W, _ = warped.shape
    if tuple(mask.shape) != (n, H, W):
        raise ValueError(f"mask must be {(n, H, W)}, got {tuple(mask.shape)}")
    latent_frame_count(n)
    if not 0 <= history < n:
        raise ValueError(f"history must be in [0, {n}), got {history}")
    return n, H, W
