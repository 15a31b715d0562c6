"""Classifier-free guidance over two devices (``diffusion.cfg_device``).

On one GPU a guided step is one batch-2 forward (cond + uncond). With ``cfg_device`` set, a copy of the
transformer lives on that second device and runs the unconditional half (batch 1) while the main device runs the
conditional half: both are queued before either is waited for, so on two GPUs the step costs about one batch-1
forward (docs/SCALING.md). Only the latents (2.2 MB in bf16 at 480x720) go over and the prediction comes back.
Unguided steps (outside ``diffusion.guidance_interval``) run on the main device alone.

The halves are batch-1 forwards, so the numbers equal the one-device path up to the kernels' summation order for a
different batch size (bf16 rounding; on the CPU in fp32, ~1e-6: tests/test_cfg_split.py).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch

from .time_table import time_table


class UncondReplica:
    """The transformer's copy on ``device`` and what one loop needs there (the uncond prompt, the timesteps)."""

    def __init__(self, transformer: torch.nn.Module, device: torch.device) -> None:
        self.model = copy.deepcopy(transformer).to(device)
        self.device = device
        self.forwards = 0
        self._ctx: torch.Tensor | None = None
        self._steps: torch.Tensor | None = None
        self._base = 0

    @contextlib.contextmanager
    def loop(self, uncond: torch.Tensor, steps: torch.Tensor, use_time_table: bool) -> Iterator[None]:
        """For one denoising loop: ``steps`` holds every step's token timesteps (the loop passes views of it)."""
        if not steps.is_contiguous():
            raise ValueError("the loop's timestep matrix must be contiguous")
        self._ctx = uncond.to(self.device)
        self._steps = steps.to(self.device)
        self._base = steps.storage_offset()
        try:
            with time_table(self.model, self._steps, enabled=use_time_table):
                yield
        finally:
            self._ctx = self._steps = None

    def _timestep(self, view: torch.Tensor) -> torch.Tensor:
        """The replica's copy of a view of the loop's timestep matrix (same shape, strides and offset)."""
        assert self._steps is not None
        return self._steps.as_strided(view.shape, view.stride(), view.storage_offset() - self._base)

    def launch(self, x: torch.Tensor, t_tok: torch.Tensor) -> torch.Tensor:
        """Queue the unconditional forward for latents ``x`` (model dtype) at step timesteps ``t_tok`` (a view of
        the loop's matrix); returns its output on the replica's device (not waited for)."""
        self.forwards += 1
        timestep = self._timestep(t_tok).reshape(1, -1)
        return self.model(hidden_states=x.to(self.device, non_blocking=True), timestep=timestep,
                          encoder_hidden_states=self._ctx, return_dict=False)[0]


def loop_context(replica: UncondReplica | None, uncond: torch.Tensor | None, steps: torch.Tensor,
                 use_time_table: bool) -> contextlib.AbstractContextManager:
    if replica is None or uncond is None:
        return contextlib.nullcontext()
    return replica.loop(uncond, steps, use_time_table)
