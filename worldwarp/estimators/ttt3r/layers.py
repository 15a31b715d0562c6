"""Transformer blocks of CroCo / CUT3R, with the parameter names of the released checkpoint.

RoPE-2D is CroCo's CUDA kernel's arithmetic in torch: each head's first half turns with the token's y position,
the second half with x; in a half of width D/2, element j pairs with j + D/4 and turns by
``pos / freq ** (j / (D/4))``. Positions are used as numbers, not table indices, because CUT3R gives the pose
token the position -1. Rotations run in float32 whatever the model dtype, as the authors' code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-6


def norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=LN_EPS)


class Rope2D(nn.Module):
    def __init__(self, freq: float = 100.0) -> None:
        super().__init__()
        self.freq = freq

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x (B, heads, N, D); pos (B, N, 2) as (y, x)."""
        D = x.shape[-1]
        Q = D // 4
        inv = self.freq ** -(torch.arange(Q, dtype=torch.float32, device=x.device) / Q)
        ang = pos.float()[:, None, :, :, None] * inv  # B,1,N,2,Q
        cos, sin = ang.cos(), ang.sin()
        parts = x.float().unflatten(-1, (2, 2, Q))  # (axis, u|v, Q)
        u, v = parts[..., 0, :], parts[..., 1, :]
        out = torch.stack((u * cos - v * sin, v * cos + u * sin), dim=-2)
        return out.flatten(-3).to(x.dtype)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, out or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    return x.unflatten(-1, (n, -1)).transpose(1, 2)  # B,N,C -> B,h,N,d


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, rope: Rope2D | None) -> None:
        super().__init__()
        self.heads, self.rope = heads, rope
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        if self.rope is not None and pos is not None:
            q, k = self.rope(q, pos), self.rope(k, pos)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2))


class CrossAttention(nn.Module):
    """``gate_logit=True`` also returns the mean attention logit of each query over all keys and heads:
    mean_k(q . k) * scale = q . mean_k(k) * scale, without forming the attention matrix (TTT3R's update gate)."""

    def __init__(self, dim: int, heads: int, rope: Rope2D | None) -> None:
        super().__init__()
        self.heads, self.rope = heads, rope
        self.projq, self.projk, self.projv = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, y, xpos, ypos, gate_logit: bool = False):
        q, k, v = _heads(self.projq(x), self.heads), _heads(self.projk(y), self.heads), _heads(self.projv(y), self.heads)
        if self.rope is not None:
            q = self.rope(q, xpos) if xpos is not None else q
            k = self.rope(k, ypos) if ypos is not None else k
        out = self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2))
        if not gate_logit:
            return out, None
        logit = (q.float() @ k.float().mean(dim=2, keepdim=True).transpose(-1, -2)).squeeze(-1)  # B,h,Nq
        return out, logit.mean(dim=1) * q.shape[-1] ** -0.5


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, rope: Rope2D | None) -> None:
        super().__init__()
        self.norm1, self.attn = norm(dim), Attention(dim, heads, rope)
        self.norm2, self.mlp = norm(dim), Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), pos)
        return x + self.mlp(self.norm2(x))


class DecoderBlock(nn.Module):
    """Self-attention, cross-attention to ``y`` (normalised by norm_y), MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, rope: Rope2D | None, norm_mem: bool = True) -> None:
        super().__init__()
        self.norm1, self.attn = norm(dim), Attention(dim, heads, rope)
        self.norm2, self.cross_attn = norm(dim), CrossAttention(dim, heads, rope)
        self.norm3, self.mlp = norm(dim), Mlp(dim, int(dim * mlp_ratio))
        self.norm_y = norm(dim) if norm_mem else nn.Identity()

    def forward(self, x, y, xpos, ypos, gate_logit: bool = False):
        x = x + self.attn(self.norm1(x), xpos)
        c, logit = self.cross_attn(self.norm2(x), self.norm_y(y), xpos, ypos, gate_logit)
        x = x + c
        return x + self.mlp(self.norm3(x)), logit


class ModLN(nn.Module):
    """LayerNorm modulated by a condition vector (adaLN): x * (1 + scale) + shift."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = norm(dim)
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.mlp(cond).chunk(2, dim=-1)
        return self.norm(x) * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class ConditionedBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, rope: Rope2D | None) -> None:
        super().__init__()
        self.norm1, self.attn = ModLN(dim, dim), Attention(dim, heads, rope)
        self.norm2, self.mlp = ModLN(dim, dim), Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, cond, pos):
        x = x + self.attn(self.norm1(x, cond), pos)
        return x + self.mlp(self.norm2(x, cond))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, in_chans: int, dim: int) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_chans, dim, patch, patch)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.proj(img)
        h, w = x.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, device=img.device), torch.arange(w, device=img.device), indexing="ij")
        pos = torch.stack((ys, xs), -1).reshape(1, h * w, 2).expand(len(img), -1, -1)
        return x.flatten(2).transpose(1, 2), pos
