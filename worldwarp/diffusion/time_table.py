"""Wan's time embedding computed once per distinct noise level instead of once per token.

With a per-token timestep (batch, tokens), diffusers' ``WanTimeTextImageEmbedding`` runs its sinusoid, its MLP
and its 6 x dim projection on every token: ~17.5k rows per forward at 480x720, although a denoising loop only ever
shows a few hundred distinct timesteps. Inside ``time_table(transformer, values)`` the embedder instead computes
those rows once for the sorted table of ``values`` (on the first forward, in the embedder's own dtypes) and
gathers them per token with ``searchsorted`` on the device: no host sync, no per-step MLP. Each row goes through
the same layers as before, so outputs are equal to the stock path up to the matmul's blocking (tested).

Callers pass every value the loop will use (they are known before it starts); a forward whose timestep is 1-D
or whose values were not all given falls back to the stock embedder only where that can be told without a sync:
``strict=True`` (tests) checks membership and raises instead.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class _Table:
    def __init__(self, embedder, values: torch.Tensor, strict: bool) -> None:
        self.e, self.values, self.strict = embedder, torch.unique(values.detach().flatten().float()), strict
        self.rows: tuple[torch.Tensor, torch.Tensor] | None = None

    def _build(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.e
        v = self.values.to(like.device)
        t = e.timesteps_proj(v)
        dt = next(iter(e.time_embedder.parameters())).dtype
        if t.dtype != dt and dt != torch.int8:
            t = t.to(dt)
        temb = e.time_embedder(t).type_as(like)
        return temb, e.time_proj(e.act_fn(temb))

    def forward(self, orig, timestep, encoder_hidden_states, encoder_hidden_states_image=None, timestep_seq_len=None):
        if timestep_seq_len is None:
            return orig(timestep, encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len)
        if self.rows is None or self.rows[0].device != encoder_hidden_states.device:
            self.rows = self._build(encoder_hidden_states)
        table = self.values.to(timestep.device)
        idx = torch.searchsorted(table, timestep.float()).clamp_max(len(table) - 1)
        if self.strict and not bool((table[idx] == timestep.float()).all()):
            raise ValueError("time_table: a timestep not in the table reached the embedder")
        temb = self.rows[0][idx].unflatten(0, (-1, timestep_seq_len))
        proj = self.rows[1][idx].unflatten(0, (-1, timestep_seq_len))
        ehs = self.e.text_embedder(encoder_hidden_states)
        img = None if encoder_hidden_states_image is None else self.e.image_embedder(encoder_hidden_states_image)
        return temb, proj, ehs, img


@contextmanager
def time_table(transformer, values: torch.Tensor, *, enabled: bool = True, strict: bool = False):
    """Within the block, ``transformer``'s per-token time embedding comes from a table of ``values``."""
    embedder = getattr(transformer, "condition_embedder", None)
    if not enabled or embedder is None or not hasattr(embedder, "time_embedder"):
        yield
        return
    table = _Table(embedder, values, strict)
    orig = embedder.forward
    embedder.forward = lambda *a, **k: table.forward(orig, *a, **k)
    try:
        yield table
    finally:
        del embedder.forward  # back to the class's forward
