"""CUT3R's recurrent reconstruction model with its ``cut3r`` and ``ttt3r`` state updates, as a stream of frames.

Per frame: a ViT encoder (RoPE-2D) turns the image into tokens; a pose token (a learned one for the first frame,
afterwards read from a small pose memory) is put in front; twin decoders run in lockstep, the state tokens
cross-attending to the image tokens and the image tokens to the state; heads read four token maps. The state then
takes the decoder's new state: wholesale (``cut3r``, and every model on its first frame), or per state token by
a gate sigmoid(mean cross-attention logit of that token over all image tokens, heads and layers) (``ttt3r``,
the test-time-training update of TTT3R). The pose memory always takes its new value.

Only what inference reads is computed: the ray-map encoder, the RGB head and the cross-view point head exist so
that the released weights load, and run on request (``world_points``) for the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import Cut3rConfig
from .dpt import DPTHead
from .layers import Block, ConditionedBlock, DecoderBlock, Mlp, PatchEmbed, Rope2D, norm

Update = Literal["ttt3r", "cut3r"]


class State(NamedTuple):
    tokens: torch.Tensor  # (B, S, dec) the recurrent state
    memory: torch.Tensor  # (B, M, 2 dec) the pose memory
    frames: int  # frames seen


@dataclass
class FrameOutput:
    points: torch.Tensor  # (B, H, W, 3) points in the frame's own camera (pts3d_in_self_view)
    confidence: torch.Tensor  # (B, H, W) >= 1 (conf_self)
    pose: torch.Tensor  # (B, 7) translation + unit quaternion (w first), camera-to-world of the first frame's frame
    world_points: torch.Tensor | None = None  # (B, H, W, 3) in the first frame's frame, when asked for


class PoseMemory(nn.Module):
    """A small memory read with (image feature, mask token) and written with (image feature, pose feature)."""

    def __init__(self, cfg: Cut3rConfig, rope: Rope2D | None = None) -> None:
        super().__init__()
        d = cfg.dec_embed_dim
        self.v_dim = d
        self.proj_q = nn.Linear(cfg.enc_embed_dim, d)
        self.masked_token = nn.Parameter(torch.zeros(1, 1, d))
        self.mem = nn.Parameter(torch.zeros(1, cfg.local_mem_size, 2 * d))
        self.write_blocks = nn.ModuleList([DecoderBlock(2 * d, cfg.dec_num_heads, cfg.mlp_ratio, rope) for _ in range(2)])
        self.read_blocks = nn.ModuleList([DecoderBlock(2 * d, cfg.dec_num_heads, cfg.mlp_ratio, rope) for _ in range(2)])

    def read(self, feat: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.proj_q(feat), self.masked_token.expand(len(feat), -1, -1)], dim=-1)
        for blk in self.read_blocks:
            x, _ = blk(x, mem, None, None)
        return x[..., -self.v_dim:]

    def write(self, mem: torch.Tensor, feat: torch.Tensor, pose_feat: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.proj_q(feat), pose_feat], dim=-1)
        for blk in self.write_blocks:
            mem, _ = blk(mem, y, None, None)
        return mem


class PointsPoseHead(nn.Module):
    """DPT point maps (own view, cross view, RGB) and the pose MLP on the pose token."""

    def __init__(self, cfg: Cut3rConfig, rope: Rope2D) -> None:
        super().__init__()
        e, d = cfg.enc_embed_dim, cfg.dec_embed_dim
        dims, w = (e, d, d, d), dict(patch=cfg.patch_size, feature=cfg.dpt_feature, layer_dims=cfg.dpt_layer_dims)
        self.dpt_self = DPTHead(dims, 4, **w)
        self.final_transform = nn.ModuleList([ConditionedBlock(d, cfg.dec_num_heads, 4.0, rope) for _ in range(2)])
        self.dpt_cross = DPTHead(dims, 4, **w)
        if cfg.rgb_head:
            self.dpt_rgb = DPTHead(dims, 3, **w)
        self.pose_head = nn.Module()
        self.pose_head.mlp = Mlp(d, 4 * d, 7)

    def forward(self, maps: list[torch.Tensor], size: tuple[int, int], pos: torch.Tensor,
                world_points: bool = False) -> FrameOutput:
        pose_token, tokens = maps[-1][:, 0], maps[-1][:, 1:]
        raw = self.dpt_self(maps[:-1] + [tokens], size).permute(0, 2, 3, 1)
        out = FrameOutput(exp_points(raw[..., :3]), 1 + raw[..., 3].exp(), pose_from_encoding(self.pose_head.mlp(pose_token)))
        if world_points:
            x = tokens
            for blk in self.final_transform:
                x = blk(x, pose_token, pos)
            out.world_points = exp_points(self.dpt_cross(maps[:-1] + [x], size).permute(0, 2, 3, 1)[..., :3])
        return out


def exp_points(xyz: torch.Tensor) -> torch.Tensor:
    """CUT3R's 'exp' point parametrisation: direction times expm1(length)."""
    d = xyz.norm(dim=-1, keepdim=True)
    return xyz / d.clamp_min(1e-8) * torch.expm1(d)


def pose_from_encoding(enc: torch.Tensor) -> torch.Tensor:
    """Raw 7-vector -> translation (same 'exp' length map) and a unit quaternion with w >= 0."""
    t, q = enc[..., :3], enc[..., 3:7]
    d = t.norm(dim=-1, keepdim=True)
    q = F.normalize(q, dim=-1)
    return torch.cat([t * (torch.expm1(d) / d.clamp_min(1e-8)), torch.where(q[..., :1] < 0, -q, q)], dim=-1)


class Cut3rModel(nn.Module):
    """The ARCroco3DStereo network, parameter for parameter; see the module doc for what runs."""

    def __init__(self, cfg: Cut3rConfig) -> None:
        super().__init__()
        self.config = cfg.check()
        e, d, p = cfg.enc_embed_dim, cfg.dec_embed_dim, cfg.patch_size
        self.rope = Rope2D(cfg.rope_freq)
        self.patch_embed = PatchEmbed(p, 3, e)
        self.patch_embed_ray_map = PatchEmbed(p, 6, e)
        self.enc_blocks = nn.ModuleList([Block(e, cfg.enc_num_heads, cfg.mlp_ratio, self.rope) for _ in range(cfg.enc_depth)])
        self.enc_norm = norm(e)
        self.enc_blocks_ray_map = nn.ModuleList([Block(e, 16, 4.0, self.rope) for _ in range(cfg.ray_enc_depth)])
        self.enc_norm_ray_map = norm(e)
        self.decoder_embed = nn.Linear(e, d)
        self.dec_blocks = nn.ModuleList([DecoderBlock(d, cfg.dec_num_heads, cfg.mlp_ratio, self.rope, cfg.norm_im2_in_dec)
                                         for _ in range(cfg.dec_depth)])
        self.dec_norm = norm(d)
        self.decoder_embed_state = nn.Linear(e, d)
        self.dec_blocks_state = nn.ModuleList([DecoderBlock(d, cfg.state_dec_num_heads, cfg.mlp_ratio, self.rope,
                                                            cfg.norm_im2_in_dec) for _ in range(cfg.dec_depth)])
        self.dec_norm_state = norm(d)
        self.register_tokens = nn.Embedding(cfg.state_size, e)
        self.masked_img_token = nn.Parameter(torch.zeros(1, e))
        self.masked_ray_map_token = nn.Parameter(torch.zeros(1, e))
        self.pose_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pose_retriever = PoseMemory(cfg)
        self.downstream_head = PointsPoseHead(cfg, self.rope)

    @property
    def dtype(self) -> torch.dtype:
        return self.patch_embed.proj.weight.dtype

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (N, 3, H, W) in [-1, 1] -> tokens (N, T, enc), positions (N, T, 2)."""
        x, pos = self.patch_embed(images.to(self.dtype))
        for blk in self.enc_blocks:
            x = blk(x, pos)
        return self.enc_norm(x), pos

    def initial_state(self, batch: int = 1) -> State:
        tokens = self.decoder_embed_state(self.register_tokens.weight)[None].expand(batch, -1, -1)
        return State(tokens, self.pose_retriever.mem.expand(batch, -1, -1), 0)

    def state_positions(self, batch: int) -> torch.Tensor:
        S = self.config.state_size
        width = int(S ** 0.5)
        width += width % 2
        i = torch.arange(S, device=self.register_tokens.weight.device)
        return torch.stack((i // width, i % width), -1)[None].expand(batch, -1, -1)

    def step(self, state: State, feat: torch.Tensor, pos: torch.Tensor, size: tuple[int, int], *,
             update: Update = "ttt3r", world_points: bool = False) -> tuple[FrameOutput, State]:
        """One frame: encoder tokens ``feat`` (B, T, enc) at ``pos`` -> its outputs and the next state."""
        B = len(feat)
        glob = feat.mean(dim=1, keepdim=True)
        pose_feat = (self.pose_token.expand(B, -1, -1) if state.frames == 0
                     else self.pose_retriever.read(glob, state.memory))
        img = torch.cat([pose_feat, self.decoder_embed(feat)], dim=1)
        img_pos = torch.cat([torch.full((B, 1, 2), -1, dtype=pos.dtype, device=pos.device), pos], dim=1)
        st, st_pos = state.tokens, self.state_positions(B)
        gate = update == "ttt3r" and state.frames > 0
        maps, logits = [feat], []
        for blk_s, blk_i in zip(self.dec_blocks_state, self.dec_blocks):
            st_new, logit = blk_s(st, img, st_pos, img_pos, gate_logit=gate)
            img, _ = blk_i(img, st, img_pos, st_pos)
            st = st_new
            maps.append(img)
            logits.append(logit)
        st, maps[-1] = self.dec_norm_state(st), self.dec_norm(maps[-1])
        L = self.config.dec_depth
        head_in = [maps[0].float(), maps[L * 2 // 4][:, 1:].float(), maps[L * 3 // 4][:, 1:].float(), maps[L].float()]
        out = self.downstream_head(head_in, size, pos, world_points)
        memory = self.pose_retriever.write(state.memory, glob, maps[L][:, :1])
        if gate:
            g = torch.sigmoid(torch.stack(logits).mean(0))[..., None].to(st.dtype)  # B,S,1
            st = st * g + state.tokens * (1 - g)
        return out, State(st, memory, state.frames + 1)
