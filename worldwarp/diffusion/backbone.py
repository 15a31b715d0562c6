"""Loading the Wan2.1 backbone (transformer + VAE) from a local diffusers-layout directory, and its run-time switches."""

from __future__ import annotations

import contextlib
import importlib.util
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
    """Backend name: diffusers' names, or "fa4" (SDPA on FlashAttention-4 kernels, ``flash4``). "auto" is flash-attn
    2 where installed (CUDA), else PyTorch SDPA ("native")."""
    if name != "auto":
        return name
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None \
            and importlib.util.find_spec("flash_attn.flash_attn_interface") is not None:
        return "flash"
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
