"""FlashAttention-4 as the kernel behind PyTorch's SDPA (``diffusion.attention=fa4``).

PyTorch (>= 2.11) can route its flash-attention op to FlashAttention-4, the CuTe-DSL kernels of the
``flash-attn-4`` package, through ``torch.nn.attention.activate_flash_attention_impl("FA4")``. The transformer
runs diffusers' "_native_flash" path (SDPA held to its flash op, also inside compiled graphs, where inductor would
otherwise pick cuDNN's kernel) and the op runs FA4's kernel. PyTorch's own FA4 glue reads the package through
``fa4_kernels``, which adapts it to the package's current return values. The switch is process-wide, so it is
turned on when a denoiser asks for it and off when one asks for anything else. Measured on the H100 in
docs/BENCHMARKS.md §12.
"""

from __future__ import annotations

import importlib.util

import torch

IMPL = "FA4"
DIFFUSERS_BACKEND = "_native_flash"  # SDPA restricted to the flash op, which FA4 replaces
_SHIM = "worldwarp.diffusion.fa4_kernels"


def unavailable(device: torch.device) -> str | None:
    """Why FA4 cannot run on ``device``, or None when it can."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return "it needs a CUDA GPU"
    major, minor = torch.cuda.get_device_capability(device)
    if major not in (9, 10):
        return f"it needs compute capability 9.x or 10.x (Hopper or Blackwell), this GPU is {major}.{minor}"
    try:
        from torch.nn.attention import list_flash_attention_impls
    except ImportError:
        return f"torch {torch.__version__} has no flash-attention switch (torch >= 2.11 has)"
    if IMPL not in list_flash_attention_impls():
        return f"torch {torch.__version__} does not offer {IMPL}"
    try:
        found = importlib.util.find_spec("flash_attn") is not None and importlib.util.find_spec("flash_attn.cute") is not None
    except (ImportError, ValueError):  # a flash_attn that fails to import (another package's, a broken build)
        found = False
    if not found:
        return "the flash-attn-4 package is not installed (pip install flash-attn-4)"
    return None


def activate(device: torch.device) -> None:
    """Route SDPA's flash op to FA4, or raise ValueError saying why it cannot be."""
    why = unavailable(device)
    if why is not None:
        raise ValueError(f"diffusion.attention=fa4: {why}")
    from torch.nn.attention import activate_flash_attention_impl, current_flash_attention_impl

    if current_flash_attention_impl() != IMPL:
        try:
            _register_shim()
            activate_flash_attention_impl(IMPL)
        except Exception as e:  # noqa: BLE001 - an import error inside the package, a driver mismatch, ...
            raise ValueError(f"diffusion.attention=fa4: activating {IMPL} failed: {type(e).__name__}: {e}") from e


def _register_shim() -> None:
    """Point torch's FA4 registration at ``fa4_kernels`` instead of the package's module (see there why)."""
    import functools

    from torch.nn.attention import _fa4, register_flash_attention_impl

    register_flash_attention_impl(IMPL, register_fn=functools.partial(_fa4.register_flash_attention_fa4, module_path=_SHIM))


def deactivate() -> None:
    """Back to PyTorch's own flash kernel (a no-op when FA4 was never switched on)."""
    try:
        from torch.nn.attention import current_flash_attention_impl, restore_flash_attention_impl
    except ImportError:
        return
    if current_flash_attention_impl() is not None:
        restore_flash_attention_impl(_raise_warn=False)
