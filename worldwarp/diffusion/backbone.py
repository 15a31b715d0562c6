"""Loading the Wan2.1 backbone (transformer + VAE) from a local diffusers-layout directory, and its run-time switches."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from . import flash4
from .checkpoint import CheckpointError

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_dtype(name: str, device: torch.device, auto: torch.dtype) -> torch.dtype:
    if name == "auto":
        return auto if device.type == "cuda" else torch.float32
    return DTYPES[name]


def check_model_dir(model_dir: str | Path | None) -> Path:
    """The directory, or a CheckpointError naming what is missing."""
    if not model_dir:
        raise CheckpointError("diffusion.model_dir is not set: the stdiff backend needs a local "
                              "Wan2.1-T2V-1.3B-Diffusers directory (transformer/, vae/, text_encoder/, tokenizer/)")
    d = Path(model_dir).expanduser()
    if not d.is_dir():
        raise CheckpointError(f"model directory {d} not found (expected Wan2.1-T2V-1.3B-Diffusers in diffusers layout)")
    for sub in ("transformer", "vae"):
        if not (d / sub / "config.json").is_file():
            raise CheckpointError(f"{d / sub / 'config.json'} not found (expected the Wan {sub} in diffusers layout)")
    return d


@dataclass
class Backbone:
    transformer: torch.nn.Module
    vae: torch.nn.Module
    model_dir: Path


def load_backbone(model_dir: str | Path, dtype: torch.dtype, vae_dtype: torch.dtype) -> Backbone:
    """Transformer and VAE on the CPU in the requested dtypes (placement is the caller's: see ``place``)."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    d = check_model_dir(model_dir)
    try:
        transformer = WanTransformer3DModel.from_pretrained(d, subfolder="transformer", torch_dtype=dtype)
        vae = AutoencoderKLWan.from_pretrained(d, subfolder="vae", torch_dtype=vae_dtype)
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"cannot load the Wan backbone from {d}: {e}") from e
    return Backbone(transformer.eval().requires_grad_(False), vae.eval().requires_grad_(False), d)


def pick_attention(name: str, device: torch.device) -> str:
    """Backend name: diffusers' names, or "fa4" (SDPA on FlashAttention-4 kernels, ``flash4``). "auto" is FA4 where
    it can run, else PyTorch SDPA ("native"), whose compiled graphs take cuDNN's kernel. Measured on the H100
    (docs/BENCHMARKS.md §12): FA4 724 TFLOP/s, cuDNN 613, the FlashAttention-2 kernel 360; so "auto" never picks
    flash-attn 2 ("flash"), which stays available by name."""
    if name != "auto":
        return name
    if device.type == "cuda" and flash4.unavailable(device) is None:
        return "fa4"
    return "native"


def set_attention(transformer, name: str, device: torch.device) -> None:
    if name == "fa4":
        flash4.activate(device)  # SDPA's flash op now runs FA4
        name = flash4.DIFFUSERS_BACKEND
    else:
        flash4.deactivate()
    try:
        transformer.set_attention_backend(name)
    except (RuntimeError, ValueError, ImportError) as e:
        raise ValueError(f"attention backend {name!r} is not usable here: {e}") from e


def configure(bb: Backbone, device: torch.device, offload: str, attention: str, vae_tiling: bool,
              vae_slicing: bool, compile_blocks: bool, fullgraph: bool = True) -> str:
    """Apply the memory/speed switches and the initial placement; returns the attention backend used.
    ``fullgraph=False`` lets a block graph-break (the step cache's leader block decides on the host)."""
    backend = pick_attention(attention, device)
    # set even "native": diffusers also keeps a process-wide active backend that another model may have changed
    try:
        set_attention(bb.transformer, backend, device)
    except ValueError as e:
        if attention != "auto":
            raise
        # "auto" chose a kernel package that is installed but does not work here: say so, run PyTorch's SDPA
        warnings.warn(f"diffusion.attention=auto: {e}; using PyTorch SDPA (native)", stacklevel=2)
        backend = "native"
        set_attention(bb.transformer, backend, device)
    if vae_tiling:
        bb.vae.enable_tiling()
    if vae_slicing:
        bb.vae.enable_slicing()
    if offload == "group" and device.type == "cuda":
        # block-level streaming: only a block or two of the transformer is on the GPU at a time
        bb.transformer.enable_group_offload(device, torch.device("cpu"), offload_type="block_level",
                                            num_blocks_per_group=1, use_stream=True)
    elif offload == "none" or device.type != "cuda":
        bb.transformer.to(device)
        bb.vae.to(device)
    if compile_blocks:
        # static shapes: CFG-on and CFG-off steps (batch 2 / 1 under guidance_interval) each get their own graph;
        # with automatic dynamic shapes the switch recompiled a symbolic-batch graph (chunk 26.8 s vs 24.8 s static)
        bb.transformer.compile_repeated_blocks(fullgraph=fullgraph, dynamic=False)
    return backend


def prepare_transformer(transformer: torch.nn.Module, device: torch.device, backend: str, compile_blocks: bool) -> None:
    """A second copy of the transformer (diffusion.cfg_device) made like the first: its kernel, compiled alike."""
    set_attention(transformer, backend, device)
    if compile_blocks:
        transformer.compile_repeated_blocks(fullgraph=True, dynamic=False)


@contextlib.contextmanager
def on_device(module: torch.nn.Module, device: torch.device, offload: str):
    """Model offload: the module is on ``device`` only inside the block ("model" mode); otherwise a no-op."""
    if offload != "model" or device.type != "cuda":
        yield module
        return
    module.to(device)
    try:
        yield module
    finally:
        module.to("cpu")
        torch.cuda.empty_cache()
