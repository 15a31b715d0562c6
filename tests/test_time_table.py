"""The time-embedding table gives the stock per-token embedding's numbers while running the embedder's MLP on the
distinct levels only, serves only timesteps it can vouch for (anything else takes the stock path), and leaves both
samplers' loops and a whole chunk unchanged."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import make_denoiser
from worldwarp.diffusion.official import level_matrix, official_loop, official_schedule, official_start, sigma_lookup
from worldwarp.diffusion.sampler import denoise_loop, noisy_start
from worldwarp.diffusion.schedule import global_sigmas
from worldwarp.diffusion.standins import TINY_TRANSFORMER, build_tiny_wan
from worldwarp.diffusion.time_table import MIN_ROWS, time_table

LEVELS = torch.tensor([0.0, 137.5, 612.0, 951.0, 1000.0])
T, h, w = 3, 8, 12  # latent grid: 72 tokens
L = T * (h // 2) * (w // 2)


@pytest.fixture(scope="module")
def transformer():
    torch.manual_seed(0)
    return WanTransformer3DModel(**TINY_TRANSFORMER).eval()


@pytest.fixture
def mlp_rows(transformer):
    """Rows through the time embedder's MLP, one entry per call."""
    rows: list[int] = []
    hook = transformer.condition_embedder.time_embedder.register_forward_hook(
        lambda m, i, o: rows.append(i[0].shape[:-1].numel()))
    yield rows
    hook.remove()


def _steps(n=4, seed=0):
    """(n, L) token timesteps drawn from LEVELS, as a loop precomputes them."""
    g = torch.Generator().manual_seed(seed)
    return LEVELS[torch.randint(len(LEVELS), (n, L), generator=g)]


def _forward(tr, t_tok, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tr.config.in_channels, T, h, w, generator=g)
    ctx = torch.randn(batch, 16, tr.config.text_dim, generator=g)
    timestep = t_tok.reshape(1, -1).expand(batch, -1)  # what the samplers pass: a view of their step matrix
    with torch.no_grad():
        return tr(hidden_states=x, timestep=timestep, encoder_hidden_states=ctx, return_dict=False)[0]


@pytest.mark.parametrize("batch", [1, 2])
def test_same_output_with_the_mlp_on_distinct_levels_only(transformer, mlp_rows, batch):
    steps = _steps()
    refs = [_forward(transformer, steps[i].clone(), batch) for i in range(len(steps))]
    assert mlp_rows == [batch * L] * len(steps)  # stock: one row per token and batch entry
    mlp_rows.clear()
    with time_table(transformer, steps) as table:
        outs = [_forward(transformer, steps[i], batch) for i in range(len(steps))]
    assert len(table.values) == len(LEVELS) and mlp_rows == [MIN_ROWS]  # the distinct levels (padded), once
    assert MIN_ROWS < L
    assert (table.table_forwards, table.stock_forwards) == (len(steps), 0)
    diff = max(float((o - r).abs().max()) for o, r in zip(outs, refs))
    assert diff <= 1e-6, diff  # measured 0 (bitwise) for batch 1 and 2, fp32 CPU
    assert "forward" not in transformer.condition_embedder.__dict__  # the stock embedder is back
    mlp_rows.clear()
    assert torch.equal(_forward(transformer, steps[0], batch), refs[0]) and mlp_rows == [batch * L]


def test_timesteps_it_cannot_vouch_for_take_the_stock_path(transformer, mlp_rows):
    steps = _steps()
    outside = steps[1].clone()
    outside[5] = 500.0  # not a level of the loop
    refs = [_forward(transformer, t.clone(), 2) for t in (outside, steps[2])]
    mlp_rows.clear()
    with time_table(transformer, steps) as table:
        a = _forward(transformer, outside, 2)  # a copy, holding a value outside the table
        b = _forward(transformer, steps[2].clone(), 2)  # a copy of a served step: values unseen, so not trusted
        steps[3, 7] = 500.0  # the step matrix written in place after the table was built
        c = _forward(transformer, steps[3], 2)
    assert (table.table_forwards, table.stock_forwards) == (0, 3)
    assert mlp_rows == [2 * L] * 3
    assert torch.equal(a, refs[0]) and torch.equal(b, refs[1])
    mlp_rows.clear()
    assert torch.equal(c, _forward(transformer, steps[3].clone(), 2))  # the new value, not the stale row


def test_disabled_is_the_stock_path(transformer, mlp_rows):
    steps = _steps()
    with time_table(transformer, steps, enabled=False) as table:
        _forward(transformer, steps[0], 2)
    assert table is None and mlp_rows == [2 * L]


def _loop_inputs(tr, seed=0):
    g = torch.Generator().manual_seed(seed)
    z_warp = torch.randn(1, tr.config.in_channels, T, h, w, generator=g)
    noise = torch.randn(z_warp.shape, generator=g)
    cond = torch.randn(1, 16, tr.config.text_dim, generator=g)
    uncond = torch.randn(1, 16, tr.config.text_dim, generator=g)
    valid = torch.rand(T, h, w, generator=g) > 0.4
    valid[0] = True
    return z_warp, noise, cond, uncond, valid


def _tokenwise(tr, guidance, on):
    z_warp, noise, cond, uncond, valid = _loop_inputs(tr)
    sigma0 = torch.where(valid[:, ::2, ::2], 0.8, 1.0).double()
    sigma0[0] = 0.0  # a history latent frame
    sigmas = global_sigmas(8, 3.0)
    z, stats = denoise_loop(tr, noisy_start(z_warp, sigma0, noise), sigma0, sigmas, cond, uncond, guidance,
                            use_time_table=on)
    return z, stats.forwards, stats.guided_forwards


def _official(tr, guidance, on):
    z_warp, noise, cond, uncond, valid = _loop_inputs(tr)
    timesteps, sigmas = official_schedule(8, 5.0)
    levels = level_matrix(valid, 1, timesteps, 0.8)
    z = official_start(z_warp, noise, levels, sigma_lookup(levels[0], timesteps, sigmas), 1)
    z, forwards = official_loop(tr, z, levels, timesteps, sigmas, cond, uncond, guidance, use_time_table=on)
    return z, forwards, forwards if guidance > 1 else 0


@pytest.mark.parametrize("loop", [_tokenwise, _official])
@pytest.mark.parametrize("guidance", [1.0, 5.0])
def test_both_loops_end_to_end(transformer, mlp_rows, loop, guidance):
    ref, forwards, guided = loop(transformer, guidance, False)
    assert sum(mlp_rows) == (forwards + guided) * L  # stock: every token of every forward (twice with CFG)
    mlp_rows.clear()
    out, *_ = loop(transformer, guidance, True)
    assert mlp_rows == [MIN_ROWS]  # once per loop: its distinct levels (<= 10), padded, not L per forward
    diff = float((out - ref).abs().max())
    assert diff <= 1e-6, diff  # measured 0 (bitwise), both loops, CFG or not, fp32 CPU (1.4e-6 unpadded)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_wan(tmp_path_factory.mktemp("tiny_wan"))


@pytest.mark.parametrize("sampler", ["tokenwise", "official"])
def test_whole_chunk_follows_the_config_knob(model_dir, tmp_path, sampler):
    F, H, W = 9, 64, 96
    warped = torch.rand(F, H, W, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(F, H, W)
    mask[5:, :, 48:] = 0
    outs, calls = [], []
    for on in (False, True):
        den = make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(model_dir), steps=6, sampler=sampler,
                                            guidance_scale=5.0, time_table=on,
                                            prompt_cache=str(tmp_path / "prompts")))
        rows: list[int] = []
        den.bb.transformer.condition_embedder.time_embedder.register_forward_hook(
            lambda m, i, o: rows.append(i[0].shape[:-1].numel()))
        outs.append(den(warped * mask[..., None], mask, 5, seed=3, progress=False).latents["z_out"])
        calls.append(len(rows))
    assert calls[0] >= 5 and calls[1] == 1  # a forward each without the table, one table build with it
    assert float((outs[0] - outs[1]).abs().max()) <= 1e-6  # measured 0, fp32 CPU
