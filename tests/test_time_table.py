"""The time-embedding table gives the stock per-token embedding's numbers while running the embedder's MLP on
the distinct levels only; both samplers' whole chunks are unchanged by it."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import make_denoiser
from worldwarp.diffusion.standins import TINY_TRANSFORMER, build_tiny_wan
from worldwarp.diffusion.time_table import time_table

LEVELS = torch.tensor([0.0, 137.5, 612.0, 951.0, 1000.0])


def _inputs(tr, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tr.config.in_channels, 3, 8, 12, generator=g)
    t = LEVELS[torch.randint(len(LEVELS), (3 * 4 * 6,), generator=g)].expand(batch, -1).contiguous()
    return dict(hidden_states=x, timestep=t, encoder_hidden_states=torch.randn(batch, 16, tr.config.text_dim, generator=g),
                return_dict=False)


@pytest.fixture(scope="module")
def transformer():
    torch.manual_seed(0)
    return WanTransformer3DModel(**TINY_TRANSFORMER).eval()


@pytest.mark.parametrize("batch", [1, 2])
def test_same_output_with_the_mlp_on_distinct_levels_only(transformer, batch):
    rows = []
    hook = transformer.condition_embedder.time_embedder.register_forward_hook(
        lambda m, i, o: rows.append(i[0].shape[:-1].numel()))
    kw = _inputs(transformer, batch)
    with torch.no_grad():
        ref = transformer(**kw)[0]
        with time_table(transformer, LEVELS, strict=True):
            a = transformer(**kw)[0]
            b = transformer(**kw)[0]  # the table is built once per block
        after = transformer(**kw)[0]
    hook.remove()
    assert rows == [batch * 72, 5, batch * 72]  # stock: a row per token; table: a row per level, once
    assert float((a - ref).abs().max()) <= 1e-6 and torch.equal(a, b)
    assert torch.equal(after, ref)  # the stock embedder is back


def test_a_value_outside_the_table_is_caught_in_strict_mode(transformer):
    with torch.no_grad(), pytest.raises(ValueError, match="not in the table"):
        with time_table(transformer, LEVELS[:3], strict=True):
            transformer(**_inputs(transformer))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_wan(tmp_path_factory.mktemp("tiny_wan"))


@pytest.mark.parametrize("sampler", ["tokenwise", "official"])
@pytest.mark.parametrize("guidance", [1.0, 5.0])
def test_whole_chunk_is_unchanged(model_dir, tmp_path, sampler, guidance):
    F, H, W = 9, 64, 96
    warped = torch.rand(F, H, W, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(F, H, W)
    mask[5:, :, 48:] = 0
    outs = []
    for on in (False, True):
        den = make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(model_dir), steps=6, sampler=sampler,
                                            guidance_scale=guidance, time_table=on,
                                            prompt_cache=str(tmp_path / "prompts")))
        outs.append(den(warped * mask[..., None], mask, 5, seed=3, progress=False).latents["z_out"])
    assert float((outs[0] - outs[1]).abs().max()) <= 1e-5
