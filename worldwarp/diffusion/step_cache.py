"""Optional step caching for the transformer: diffusers' First Block Cache (off by default).

First Block Cache (ParaAttention's, in diffusers as ``FirstBlockCacheConfig``) runs the first transformer block
at every step and compares its residual with the previous step's: when the relative mean change is below
``threshold`` the other blocks are skipped and the residual they added last time is reused. The decision looks
only at hidden states, never at the timestep, so it works unchanged with per-token timesteps (TeaCache-style
methods fit a curve to a scalar timestep's embedding, which a chunk with hundreds of levels does not have).

The cached state belongs to one sequence of steps at one batch size: every loop starts from a fresh state
(``reset``), and CFG-on and CFG-off steps (batch 2 and batch 1 under ``diffusion.guidance_interval``) keep
separate states (``context``). With threshold 0 every step computes every block (the exact path, up to the
hooks' additions being done in the same order).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

KINDS = ("none", "first_block")


def enable_step_cache(transformer: torch.nn.Module, kind: str, threshold: float) -> bool:
    """Install the cache hooks; returns whether a cache is on. Call before compiling the blocks."""
    if kind == "none":
        return False
    if kind != "first_block":
        raise ValueError(f"unknown diffusion.step_cache {kind!r}: one of {', '.join(KINDS)}")
    from diffusers import FirstBlockCacheConfig

    transformer.enable_cache(FirstBlockCacheConfig(threshold=float(threshold)))
    return True


def is_cached(transformer: torch.nn.Module) -> bool:
    return getattr(transformer, "_cache_config", None) is not None


def reset(transformer: torch.nn.Module) -> None:
    """Forget every cached residual (a new chunk must not reuse the last chunk's)."""
    if is_cached(transformer):
        transformer._reset_stateful_cache()


@contextlib.contextmanager
def context(transformer: torch.nn.Module, batch: int) -> Iterator[None]:
    """One cache state per batch size (guided steps are batch 2, unguided ones batch 1)."""
    if not is_cached(transformer):
        yield
        return
    with transformer.cache_context(f"batch{batch}"):
        yield


class SkipCounter:
    """How many forwards reused the cached blocks: read from the leader block's hook after each forward."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        self.hook = None
        if is_cached(transformer):
            from diffusers.hooks import HookRegistry

            reg = HookRegistry.check_if_exists_or_initialize(transformer.blocks[0])
            self.hook = reg.get_hook("fbc_leader_block_hook")
        self.reused = 0

    def after_forward(self) -> None:
        if self.hook is not None and not self.hook.state_manager.get_state().should_compute:
            self.reused += 1
