"""A whole chunk through the real ST-Diff loader and sampler, with the tiny random Wan stand-in on the CPU."""

import pytest
import torch
from safetensors.torch import save_file

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import make_denoiser
from worldwarp.diffusion.latent_grid import tokens_to_latents
from worldwarp.diffusion.standins import build_tiny_wan
from worldwarp.diffusion.vae_io import decode_latents, encode_frames

F, H, W, HIST = 9, 64, 96, 5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_wan(tmp_path_factory.mktemp("tiny_wan"))


@pytest.fixture
def make(model_dir, tmp_path):
    def _make(**over):
        kw = dict(backend="stdiff", model_dir=str(model_dir), steps=4, prompt_cache=str(tmp_path / "prompts"))
        kw.update(over)
        return make_denoiser(DiffusionConfig(**kw))
    return _make


def _chunk():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    warped = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 3 * yy + c) for c in range(3)], -1)[None].repeat(F, 1, 1, 1)
    mask = torch.ones(F, H, W)
    mask[HIST:, :, 48:] = 0  # right half of the new frames is a hole: tokens 3..5 of each row
    return warped * mask[..., None], mask


def test_shapes_range_and_latents(make):
    den = make()
    warped, mask = _chunk()
    r = den(warped, mask, HIST, seed=0, progress=False)
    assert r.frames.shape == (F, H, W, 3) and r.frames.dtype == torch.float32
    assert torch.isfinite(r.frames).all() and r.frames.min() >= 0 and r.frames.max() <= 1
    assert r.latents["z_warp"].shape == r.latents["z_out"].shape == (16, 3, H // 8, W // 8)
    assert r.info["forwards"] == 4 and r.info["cfg"] is True and den.name == "wan2.1-t2v-stnoise"


def test_deterministic_under_a_seed(make):
    den = make()
    warped, mask = _chunk()
    a = den(warped, mask, HIST, seed=7, progress=False).frames
    b = den(warped, mask, HIST, seed=7, progress=False).frames
    c = den(warped, mask, HIST, seed=8, progress=False).frames
    assert torch.equal(a, b)
    assert (a - c)[HIST:].abs().max() > 1e-3


def test_history_comes_out_as_its_vae_round_trip_and_latents_stay_clean(make):
    den = make(history_pixels="decoded")
    warped, mask = _chunk()
    r = den(warped, mask, HIST, seed=0, progress=False)
    rt = decode_latents(den.bb.vae, encode_frames(den.bb.vae, warped, torch.device("cpu")))
    assert (r.frames[:HIST] - rt[:HIST]).abs().max() < 1e-4
    assert torch.equal(r.latents["z_out"][:, :2], r.latents["z_warp"][:, :2])  # 5 history frames = 2 latent frames
    assert (r.frames[HIST:] - rt[HIST:]).abs().max() > 1e-3
    # default: the clean input history is handed back unchanged, whatever the latent alignment
    r3 = make()(warped, mask, 3, seed=0, progress=False)
    assert torch.equal(r3.frames[:3], warped[:3])


def test_valid_regions_stay_closer_to_the_warp_than_holes(make):
    den = make(sigma_start=0.3, history_pixels="decoded")
    warped, mask = _chunk()
    r = den(warped, mask, HIST, seed=0, progress=False)
    lat = tokens_to_latents(r.latents["sigma0"])
    err = (r.latents["z_out"] - r.latents["z_warp"]).abs().mean(0)
    valid_l, hole_l = err[lat == 0.3].mean(), err[lat == 1.0].mean()
    assert valid_l < 0.5 * hole_l  # measured ~0.30 vs ~0.98
    rt = decode_latents(den.bb.vae, encode_frames(den.bb.vae, warped, torch.device("cpu")))
    pix = (r.frames - rt).abs().mean(-1)[HIST:]
    m = mask[HIST:].bool()
    assert pix[m].mean() < 0.75 * pix[~m].mean()  # measured ~0.004 vs ~0.008


def _record_calls(den):
    calls = []
    den.bb.transformer.register_forward_pre_hook(
        lambda mod, args, kw: calls.append((kw["hidden_states"].shape[0], kw["timestep"].clone())), with_kwargs=True)
    return calls


@pytest.mark.parametrize("guidance, batch", [(5.0, 2), (1.0, 1)])
def test_cfg_is_batched_and_switchable_with_per_token_timesteps(make, guidance, batch):
    den = make(guidance_scale=guidance)
    calls = _record_calls(den)
    warped, mask = _chunk()
    den(warped, mask, HIST, seed=0, progress=False)
    assert [b for b, _ in calls] == [batch] * 4
    ts = calls[0][1]
    assert ts.shape == (batch, 3 * (H // 16) * (W // 16))
    grid = ts[0].view(3, H // 16, W // 16)
    assert (grid[:2] == 0).all()  # 5 history frames = latent frames 0 and 1
    assert torch.allclose(grid[2, :, 3:], torch.tensor(1000.0))  # holes start at sigma_filled = 1
    assert torch.allclose(grid[2, :, :3], torch.tensor(800.0))  # valid tokens held at sigma_start
    assert all((t[:, : 2 * (H // 16) * (W // 16)] == 0).all() for _, t in calls)  # never noised


def test_guidance_interval_drops_the_uncond_branch_outside_it(make):
    den = make(guidance_interval=(0.8, 1.0))
    calls = _record_calls(den)
    den(*_chunk(), HIST, seed=0, progress=False)
    assert [b for b, _ in calls] == [2, 2, 1, 1]  # 4 steps, shift 3: global sigmas 1, 0.9, 0.75, 0.5
    assert den(*_chunk(), HIST, seed=0, progress=False).info["guided_forwards"] == 2


def test_prompt_embeddings_are_cached_on_disk_and_the_encoder_is_freed(make, tmp_path):
    den = make()
    den(*_chunk(), HIST, seed=0, progress=False)
    assert den.prompts.encoder_loads == 1 and den.prompts._encoder is None
    files = sorted((tmp_path / "prompts").glob("*.safetensors"))
    assert len(files) == 2  # prompt and negative prompt
    again = make()
    r = again(*_chunk(), HIST, seed=0, progress=False)
    assert again.prompts.encoder_loads == 0
    assert torch.equal(again.prompts(again.s.prompt), den.prompts(den.s.prompt))
    emb = den.prompts("a forest road at night")
    assert emb.shape == (512, 32) and (emb[6:] == 0).all() and emb[:6].abs().sum() > 0  # 5 words + eos
    assert torch.isfinite(r.frames).all()


def test_stdiff_weights_are_loaded_over_the_backbone(make, tmp_path):
    base = make()
    sd = {k: v + 0.05 for k, v in base.bb.transformer.state_dict().items()}
    f = tmp_path / "stdiff.safetensors"
    save_file(sd, str(f))
    tuned = make(stdiff_weights=str(f))
    assert tuned.name == "stdiff-wan2.1"
    assert torch.equal(tuned.bb.transformer.proj_out.weight, sd["proj_out.weight"])
    warped, mask = _chunk()
    a = base(warped, mask, HIST, seed=0, progress=False).frames
    b = tuned(warped, mask, HIST, seed=0, progress=False).frames
    assert (a - b)[HIST:].abs().max() > 1e-4


def test_sizes_not_multiple_of_16_are_padded_and_cropped(make):
    den = make(steps=2)
    r = den(torch.rand(5, 40, 72, 3), torch.ones(5, 40, 72), 1, seed=0, progress=False)
    assert r.frames.shape == (5, 40, 72, 3)


def test_bad_inputs_are_rejected(make):
    den = make(steps=1)
    with pytest.raises(ValueError, match="1 \\+ 4n"):
        den(torch.rand(8, 32, 32, 3), torch.ones(8, 32, 32), 1, seed=0)
    with pytest.raises(ValueError, match="mask"):
        den(torch.rand(5, 32, 32, 3), torch.ones(5, 32, 16), 1, seed=0)
    with pytest.raises(ValueError, match="history"):
        den(torch.rand(5, 32, 32, 3), torch.ones(5, 32, 32), 5, seed=0)
