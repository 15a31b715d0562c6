"""The FlashAttention-4 entry points in the shape PyTorch's FA4 switch expects.

``torch.nn.attention._fa4`` (torch 2.11) unpacks ``_flash_attn_fwd`` into ``(out, lse)``; flash-attn-4 4.0.0b36
returns ``(out, lse, p, row_max, o_lo)``. This module hands torch the first two, whichever the package returns.
The package is imported on the first call, so this module imports where flash-attn-4 is not installed
(``flash4.unavailable`` says so before anything is switched on).
"""

from __future__ import annotations


def _interface():
    from flash_attn.cute import interface

    return interface


def _flash_attn_fwd(*args, **kwargs):
    res = _interface()._flash_attn_fwd(*args, **kwargs)
    return res[0], res[1]


def _flash_attn_bwd(*args, **kwargs):
    return _interface()._flash_attn_bwd(*args, **kwargs)
