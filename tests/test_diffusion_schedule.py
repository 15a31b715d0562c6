"""The per-token ST-Diff schedule and the mask -> latent -> token pooling, without any model."""

import pytest
import torch

from worldwarp.diffusion.latent_grid import (
    frame_groups,
    history_latent_frames,
    latent_frame_count,
    pad_to_blocks,
    pool_mask_to_tokens,
    tokens_to_latents,
)
from worldwarp.diffusion.schedule import (
    active_steps,
    euler_deltas,
    global_sigmas,
    guided_steps,
    start_levels,
    token_levels,
)


def test_global_sigmas_run_from_one_to_zero_strictly_decreasing():
    s = global_sigmas(50, 3.0)
    assert s.shape == (51,) and s[0] == 1.0 and s[-1] == 0.0
    assert (s[1:] < s[:-1]).all()
    # shift 3 spends more steps at high noise than shift 1
    assert (global_sigmas(50, 3.0)[1:-1] > global_sigmas(50, 1.0)[1:-1]).all()
    assert torch.allclose(global_sigmas(4, 1.0), torch.tensor([1.0, 0.75025, 0.5005, 0.25075, 0.0], dtype=torch.float64))


def _levels(steps=20, sigma_start=0.8, sigma_filled=1.0):
    valid = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # 2 latent frames x 3 tokens
    hist = torch.tensor([True, False])[:, None]
    s0 = start_levels(valid, hist, sigma_start, sigma_filled)
    return s0, global_sigmas(steps, 3.0), token_levels(s0, global_sigmas(steps, 3.0))


def test_start_levels_history_valid_and_holes():
    s0, _, lv = _levels()
    assert torch.equal(s0, torch.tensor([[0.0, 0.0, 0.0], [0.8, 1.0, 1.0]]))
    assert torch.equal(lv[0], s0)  # holes start at sigma_filled, valid at sigma_start


def test_levels_are_monotone_and_history_is_never_noised():
    _, _, lv = _levels()
    assert (lv[1:] <= lv[:-1]).all()
    assert (lv[:, 0] == 0).all()  # the history latent frame stays clean at every step
    assert (lv[-1] == 0).all()


def test_valid_tokens_are_held_until_the_schedule_reaches_them():
    _, sig, lv = _levels()
    v = lv[:, 1, 0]  # a valid token, start 0.8
    above = sig >= 0.8
    assert torch.all(v[above] == 0.8)
    assert torch.allclose(v[~above], sig[~above].float())
    h = lv[:, 1, 1]  # a hole follows the global schedule from the first step
    assert torch.allclose(h, sig.float())


def test_euler_deltas_sum_to_minus_the_start_level_and_vanish_while_held():
    s0, _, lv = _levels()
    d = euler_deltas(lv)
    assert (d <= 0).all()
    assert torch.allclose(d.sum(0), -s0)
    held = lv[:-1, 1, 0] == lv[1:, 1, 0]
    assert (d[held, 1, 0] == 0).all() and held.sum() >= 1


def test_steps_that_move_no_token_are_skipped_and_partial_holes_still_move():
    sig = global_sigmas(10, 3.0)
    all_valid = torch.full((2, 3), 0.5)
    active = active_steps(token_levels(all_valid, sig))
    assert active == [bool(float(sig[i + 1]) < 0.5) for i in range(10)]
    assert not all(active) and any(active)
    lv = token_levels(torch.tensor([0.5, 1.0]), sig)
    assert all(active_steps(lv))


def test_guidance_interval_selects_steps_by_global_sigma():
    sig = global_sigmas(10, 1.0)
    g = guided_steps(sig, (0.25, 1.0))
    assert g == [float(s) >= 0.25 for s in sig[:-1]]
    assert all(guided_steps(sig, (0.0, 1.0)))


def test_vae_frame_groups_and_history_latents():
    assert latent_frame_count(49) == 13 and latent_frame_count(9) == 3
    assert frame_groups(9) == [(0, 1), (1, 5), (5, 9)]
    assert [history_latent_frames(h) for h in (0, 1, 3, 5, 6, 9)] == [0, 1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="1 \\+ 4n"):
        latent_frame_count(48)


def test_mask_pooling_min_and_mean_are_exact():
    m = torch.ones(9, 32, 48)
    m[6, 17, 40] = 0  # frame 6 -> latent frame 2; pixel row 17 -> token row 1, col 40 -> token col 2
    tok = pool_mask_to_tokens(m, "min")
    assert tok.shape == (3, 2, 3)
    expect = torch.ones(3, 2, 3)
    expect[2, 1, 2] = 0
    assert torch.equal(tok, expect)
    mean = pool_mask_to_tokens(m, "mean")
    assert mean[2, 1, 2].item() == pytest.approx(1 - 1 / (4 * 256))
    assert (mean.flatten()[torch.arange(18) != 17] == 1).all()


def test_mask_pooling_of_frame_zero_is_its_own_latent_frame():
    m = torch.ones(5, 16, 16)
    m[0, :8] = 0
    assert pool_mask_to_tokens(m, "min").flatten().tolist() == [0.0, 1.0]
    assert pool_mask_to_tokens(m, "mean").flatten().tolist() == [0.5, 1.0]


def test_tokens_to_latents_and_padding():
    x = torch.arange(6.0).view(1, 2, 3)
    up = tokens_to_latents(x)
    assert up.shape == (1, 4, 6) and torch.equal(up[0, :2, :2], torch.zeros(2, 2)) and up[0, 3, 5] == 5
    y, pads = pad_to_blocks(torch.rand(2, 30, 40), (16, 16))
    assert y.shape == (2, 32, 48) and pads == (2, 8)
    assert torch.equal(y[:, 30], y[:, 29])  # replicated rows
    with pytest.raises(ValueError, match="token block"):
        pool_mask_to_tokens(torch.ones(1, 30, 32))


def test_token_order_matches_the_transformers_patchify():
    """sigma0.flatten() must line up with the model's token sequence (patch_embedding + flatten(2))."""
    from diffusers import WanTransformer3DModel

    from worldwarp.diffusion.standins import TINY_TRANSFORMER

    tr = WanTransformer3DModel(**TINY_TRANSFORMER)
    T, h, w = 3, 4, 6
    x = torch.zeros(1, 16, T, h, w)
    x[0, :, 2, 3, 4] = 1.0  # latent (t=2, y=3, x=4) -> token (2, 1, 2)
    with torch.no_grad():
        tokens = (tr.patch_embedding(x) - tr.patch_embedding(torch.zeros_like(x))).flatten(2).transpose(1, 2)
    hit = tokens[0].abs().sum(-1).nonzero().flatten().tolist()
    grid = torch.zeros(T, h // 2, w // 2)
    grid[2, 1, 2] = 1
    assert hit == grid.flatten().nonzero().flatten().tolist()
