"""8-bit weights for the two big prompt models (``prompt.quantize``, ``diffusion.text_encoder_quantize``; both
filled by ``lowvram=true``): torchao's int8 weight-only quantization of their ``nn.Linear`` layers.

Why torchao: a 3.4 MB wheel with no dependencies, whose int8 weight-only path is plain PyTorch ops, so the same
code runs in CPU tests (torch 2.13) and on the GPU machine (torch 2.11+cu130, Python 3.12: the wheel is abi3).
bitsandbytes 0.50.2 also runs its 8-bit linear layer on this CPU (tried), but its wheel is 43 MB (CUDA kernels
bundled) against torchao's 3.4 MB, and it swaps modules where torchao swaps weights in place with one call.
Each weight becomes int8 with one scale per output row; a matmul casts the layer's int8 weight to the activation
dtype and rescales, so the largest transient is one layer's weight in bf16.
"""

from __future__ import annotations

import torch

from .checks.errors import UserError

Quantize = str  # "none" | "int8" (the config's Literal)

# output heads stay in their dtype: int8 would save 0.5 GB on Qwen's 152k-row head but its cast-per-matmul
# transient (1.1 GB in bf16 at every generated token) would raise the peak it is meant to lower
KEEP = ("lm_head",)


def torchao_missing() -> str | None:
    """Why int8 weights cannot be made here (None: they can)."""
    import importlib.util

    if importlib.util.find_spec("torchao") is None:
        return "int8 weights need torchao: pip install 'worldwarp[lowvram]' (or torchao>=0.18)"
    return None


def _keep(module: torch.nn.Module, name: str) -> bool:
    return isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in KEEP


def int8_weights(model: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    """``model`` (on the CPU) with its linear layers in int8, each quantized on ``device`` as it moves there (so
    the full-precision model never sits on the GPU), and everything else moved to ``device``."""
    why = torchao_missing()
    if why:
        raise UserError(why)
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    # set_inductor_config=False: torchao would otherwise change inductor's global settings, and with them the
    # compiled transformer's kernels in the same process
    quantize_(model, Int8WeightOnlyConfig(set_inductor_config=False), filter_fn=_keep, device=torch.device(device))
    return model.to(device)


def load_quantized(model: torch.nn.Module, quantize: Quantize, device: str | torch.device) -> torch.nn.Module:
    """``model`` on ``device``, its weights as ``quantize`` says."""
    if quantize == "int8":
        return int8_weights(model, device)
    return model.to(device)
