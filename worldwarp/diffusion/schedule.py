"""Per-token flow-matching schedule of ST-Diff (pure torch, no model).

Flow matching: x_sigma = (1 - sigma) * x0 + sigma * eps, sigma = 1 is pure noise, and the model predicts the
velocity v = eps - x0. The *global* schedule sigma_0 = 1 > sigma_1 > ... > sigma_N = 0 is Wan's: N levels
spaced linearly in [1, 1/1000] (as diffusers' UniPC/FlowMatch schedulers with flow sigmas build them), bent by
the timestep shift s: sigma -> s*sigma / (1 + (s - 1)*sigma), then a final 0.

Every token has its own start level sigma0 (0 for history, sigma_start for warped, sigma_filled for holes).
At step i a token sits at level tau_i = min(sigma0, sigma_i): it is *held* at sigma0 until the global schedule
comes down to it, then follows the schedule. One Euler step moves it by (tau_{i+1} - tau_i) * v, which is 0
while it is held, a partial step on the step that reaches it, and the full step after. History tokens
(sigma0 = 0) never move.
"""

from __future__ import annotations

import torch

NUM_TRAIN_TIMESTEPS = 1000


def global_sigmas(steps: int, shift: float, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """The steps + 1 global levels, from 1 down to exactly 0 (float64 so ties with sigma0 are exact)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    s = torch.linspace(1.0, 1.0 / num_train_timesteps, steps + 1, dtype=torch.float64)[:-1]
    s = shift * s / (1 + (shift - 1) * s)
    return torch.cat([s, s.new_zeros(1)])


def token_levels(sigma0: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Levels tau (steps + 1, *sigma0.shape): tau[i] = min(sigma0, sigmas[i])."""
    s = sigmas.to(sigma0.dtype).view(-1, *([1] * sigma0.ndim))
    return torch.minimum(sigma0.unsqueeze(0), s)


def euler_deltas(levels: torch.Tensor) -> torch.Tensor:
    """Per-step level change (steps, ...): x_{i+1} = x_i + delta_i * v_i. Always <= 0; zero while held."""
    return levels[1:] - levels[:-1]


def active_steps(levels: torch.Tensor) -> list[bool]:
    """Which steps move at least one token; a step that moves none needs no model call."""
    return (levels[1:] != levels[:-1]).flatten(1).any(1).tolist()


def guided_steps(sigmas: torch.Tensor, interval: tuple[float, float]) -> list[bool]:
    """Which steps apply classifier-free guidance: those whose global level lies in [lo, hi]."""
    lo, hi = interval
    return [bool(lo <= float(s) <= hi) for s in sigmas[:-1]]


def start_levels(valid: torch.Tensor, history: torch.Tensor, sigma_start: float, sigma_filled: float) -> torch.Tensor:
    """Sigma0 = valid * sigma_start + (1 - valid) * sigma_filled, and 0 where ``history`` is set.

    ``valid`` may be fractional (soft pooling); ``history`` broadcasts over it (e.g. one flag per latent frame).
    """
    s = valid * sigma_start + (1 - valid) * sigma_filled
    return torch.where(history.bool(), torch.zeros_like(s), s)
