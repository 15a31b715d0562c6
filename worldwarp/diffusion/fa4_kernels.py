"""The FlashAttention-4 entry points in the shape PyTorch's FA4 switch expects (imported only when it is switched on).

``torch.nn.attention._fa4`` (torch 2.11) unpacks ``_flash_attn_fwd`` into ``(out, lse)``; flash-attn-4 4.0.0b36
returns ``(out, lse, p, row_max, o_lo)``. This module hands torch the first two, whichever the package returns.
"""

from __future__ import annotations

from flash_attn.cute import interface as _fa4

_flash_attn_bwd = _fa4._flash_attn_bwd


def _flash_attn_fwd(*args, **kwargs):
    res = _fa4._flash_attn_fwd(*args, **kwargs)
    return res[0], res[1]
