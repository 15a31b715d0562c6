"""The official sampler against diffusers' own WanPipeline (a) and the authors' sample_sequence fixture (b)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from worldwarp.diffusion.official import (level_matrix, official_latent_mask, official_loop, official_schedule,
                                          official_start, sigma_lookup, warped_start_step)
from worldwarp.diffusion.standins import PARITY_TRANSFORMER, build_tiny_wan

FIXTURE = Path(__file__).parent / "fixtures" / "official_sampler.npz"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_wan(tmp_path_factory.mktemp("tiny_wan_official"))


def test_strength_semantics_match_the_paper():
    timesteps, sigmas = official_schedule(50, 5.0)
    assert warped_start_step(50, 0.8) == 10  # int(0.2 * 50), not int(0.19999999999999996 * 50) = 9
    assert abs(float(sigmas[10]) - 0.9515) < 1e-3  # "sigma ~ 0.95 at tau = 0.8, S = 50"
    assert float(sigmas[0]) == 1.0 and float(sigmas[-1]) == 0.0 and len(sigmas) == 51


def test_level_matrix_holds_warped_and_history_latents():
    timesteps, _ = official_schedule(20, 5.0)
    valid = torch.zeros(3, 2, 4, dtype=torch.bool)
    valid[:, :, 2:] = True
    lv = level_matrix(valid, history=5, timesteps=timesteps, strength=0.8)  # 5 frames -> 2 history latent frames
    m0 = warped_start_step(20, 0.8)
    assert lv.shape == (21, 3, 2, 4) and (lv[-1] == 0).all()
    assert (lv[:, :2] == 0).all()
    assert torch.equal(lv[:20, 2, 0, 0], timesteps)  # holes follow the schedule
    assert (lv[: m0 + 1, 2, 0, 2] == timesteps[m0]).all() and torch.equal(lv[m0:20, 2, 0, 2], timesteps[m0:])


def test_latent_mask_takes_every_4th_frame_and_the_top_left_pixel():
    mask = torch.ones(9, 32, 48)
    mask[4, 8, 16] = 0  # top-left pixel of latent (1, 1, 2)
    mask[4, 9, 17] = 0  # inside that block: ignored by nearest downsampling
    mask[3] = 0  # not a sampled frame
    v = official_latent_mask(mask)
    assert v.shape == (3, 4, 6)
    assert not v[1, 1, 2] and int(v.sum()) == 3 * 24 - 1


def _wan_transformer(tiny_dir):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel.from_pretrained(tiny_dir, subfolder="transformer", torch_dtype=torch.float32).eval()


def test_all_hole_no_history_equals_diffusers_wan_pipeline(tiny_dir):
    """(a) with every latent a hole and no history, the official loop IS WanPipeline + FlowMatchEuler(shift=5)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline

    steps, T, h, w = 6, 3, 4, 6
    transformer = _wan_transformer(tiny_dir)
    gen = torch.Generator().manual_seed(3)
    noise = torch.randn(1, 16, T, h, w, generator=gen)
    cond = torch.randn(1, 12, PARITY_TRANSFORMER["text_dim"], generator=gen)
    uncond = torch.randn(1, 12, PARITY_TRANSFORMER["text_dim"], generator=gen)

    pipe = WanPipeline.from_pretrained(tiny_dir, transformer=transformer, torch_dtype=torch.float32,
                                       scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0))
    ref = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, latents=noise.clone(), height=h * 8, width=w * 8,
               num_frames=4 * (T - 1) + 1, num_inference_steps=steps, guidance_scale=5.0, output_type="latent").frames

    timesteps, sigmas = official_schedule(steps, 5.0)
    levels = level_matrix(torch.zeros(T, h, w, dtype=torch.bool), 0, timesteps, 0.8)
    start = sigma_lookup(levels[0], timesteps, sigmas)
    z = official_start(torch.zeros_like(noise), noise, levels, start, 0)
    ours, forwards = official_loop(transformer, z, levels, timesteps, sigmas, cond, uncond, 5.0)
    assert forwards == steps
    diff = (ours - ref).abs().max().item()
    assert diff <= 1e-5, diff


def test_matches_the_authors_sample_sequence_fixture():
    """(b) warped, hole and history latents: the per-step timestep matrix and the final latents of the authors' code.

    The fixture is made by tests/fixtures/make_official_sampler_fixture.py from a checkout of their code (docs/PARITY.md).
    """
    from diffusers import WanTransformer3DModel

    fx = np.load(FIXTURE)
    cfg = dict(PARITY_TRANSFORMER)
    transformer = WanTransformer3DModel(**cfg).eval()
    sd = {k[len("sd/"):]: torch.from_numpy(fx[k]) for k in fx.files if k.startswith("sd/")}
    transformer.load_state_dict(sd, strict=True)
    steps, strength, ctx = int(fx["steps"]), float(fx["strength"]), int(fx["context_frames"])
    valid = torch.from_numpy(fx["valid"])  # (T, h, w) bool: their valid_masks_lat
    # their layout is (B, T, C, h, w); ours (B, C, T, h, w)
    z_warp = torch.from_numpy(fx["xs_warped"]).permute(0, 2, 1, 3, 4)
    noise = torch.from_numpy(fx["noise"]).permute(0, 2, 1, 3, 4)

    timesteps, sigmas = official_schedule(steps, float(fx["shift"]))
    levels = level_matrix(valid, ctx, timesteps, strength)
    their_levels = torch.from_numpy(fx["sched_mat"])  # (S + 1, T, h, w)
    assert torch.equal(levels, their_levels)
    assert bool((levels[0] == 0).any()) and bool((levels[0] == timesteps[0]).any())  # history and holes present
    assert bool(((levels[0] > 0) & (levels[0] < timesteps[0])).any())  # and warped latents

    start = sigma_lookup(levels[0], timesteps, sigmas)
    z = official_start(z_warp, noise, levels, start, ctx)
    ours, _ = official_loop(transformer, z, levels, timesteps, sigmas, torch.from_numpy(fx["cond"]),
                            torch.from_numpy(fx["uncond"]), float(fx["guidance_scale"]))
    theirs = torch.from_numpy(fx["xs_pred"]).permute(0, 2, 1, 3, 4)
    diff = (ours - theirs).abs().max().item()  # measured 0 to 1e-6 on the CPU
    assert diff <= 1e-5, diff
    assert (theirs - z_warp).abs().max() > 0.1  # the fixture is not trivially the input


def test_denoiser_with_the_official_sampler_runs_a_chunk(tiny_dir, tmp_path):
    from worldwarp.config import DiffusionConfig, load_params
    from worldwarp.diffusion import make_denoiser

    official = load_params(None, ["profile=official"]).diffusion
    assert official.sampler == "official" and official.shift == 5.0 and official.negative_prompt.startswith("Person, people")
    cfg = official.model_copy(update=dict(backend="stdiff", model_dir=str(tiny_dir), steps=5,
                                          prompt_cache=str(tmp_path / "prompts")))
    den = make_denoiser(DiffusionConfig.model_validate(cfg.model_dump()))
    warped = torch.rand(9, 64, 96, 3)
    mask = torch.ones(9, 64, 96)
    mask[5:, :, 48:] = 0
    r = den(warped, mask, 5, seed=0, progress=False)
    lat = r.latents
    assert r.frames.shape == (9, 64, 96, 3) and torch.isfinite(r.frames).all()
    assert torch.equal(lat["z_out"][:, :2], lat["z_warp"][:, :2])  # history latent frames held
    t_tok = lat["t_tok"]  # (S + 1, T, h/2, w/2)
    assert t_tok.shape == (6, 3, 4, 6) and (t_tok[:, :2] == 0).all() and (t_tok[-1] == 0).all()
    assert (t_tok[0, 2, :, 3:] == 1000).all() and (t_tok[0, 2, :, :3] < 1000).all()  # hole vs warped tokens
    assert r.info["forwards"] == 5
