"""The weightless push-pull filler behind the Denoiser interface."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import DenoiseResult, make_denoiser
from worldwarp.diffusion.classical import PushPullFiller, push_pull_fill

ROOT = Path(__file__).resolve().parents[1]


def _ramp(n=9, H=48, W=64):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    img = torch.stack([0.2 + 0.6 * xx, 0.8 - 0.5 * yy, 0.3 + 0.2 * xx * yy], -1)
    return img[None].repeat(n, 1, 1, 1)


def test_push_pull_keeps_valid_pixels_and_reproduces_constants():
    img = torch.full((1, 3, 40, 56), 0.37)
    w = torch.ones(1, 1, 40, 56)
    w[..., 10:30, 5:50] = 0
    noisy = img.clone()
    noisy[w.expand_as(noisy) == 0] = 0.0
    out = push_pull_fill(noisy, w)
    assert torch.allclose(out, img, atol=1e-6)
    r = torch.rand(1, 3, 40, 56)
    out = push_pull_fill(r, w)
    assert torch.equal(out[w.expand_as(out) == 1], r[w.expand_as(r) == 1])


def test_holes_in_a_smooth_image_are_filled_close_to_the_truth():
    truth = _ramp()
    mask = torch.ones(9, 48, 64)
    mask[3:, 16:32, 20:44] = 0
    warped = truth * mask[..., None]  # holes rendered black
    res = PushPullFiller()(warped, mask, 3, seed=0)
    hole = mask == 0
    err = (res.frames - truth).abs().mean(-1)[hole].mean().item()
    black = truth.abs().mean(-1)[hole].mean().item()
    assert err < 0.05 and err < 0.15 * black
    assert torch.equal(res.frames[mask == 1], warped[mask == 1])
    assert torch.equal(res.frames[:3], warped[:3])


def test_result_is_a_denoise_result_with_no_latents():
    filler = make_denoiser(DiffusionConfig())
    assert filler.name == "pushpull-inpaint" and "diffusion" not in filler.name
    res = filler(torch.rand(5, 32, 32, 3), torch.ones(5, 32, 32), 1, seed=0, prompt="x", progress=False)
    assert isinstance(res, DenoiseResult) and res.latents == {}
    assert res.frames.shape == (5, 32, 32, 3) and res.frames.dtype == torch.float32


def test_temporal_smoothing_reduces_flicker_of_the_fill():
    """A hole that jitters over a textured static scene: the filled pixels flicker less with smoothing."""
    g = torch.Generator().manual_seed(0)
    scene = torch.rand(1, 48, 64, 3, generator=g).repeat(17, 1, 1, 1)
    mask = torch.ones(17, 48, 64)
    for t in range(1, 17):
        dx = (t * 7) % 9
        mask[t, 12:36, 16 + dx:40 + dx] = 0
    warped = scene * mask[..., None]

    def flicker(beta):
        out = PushPullFiller(beta)(warped, mask, 1, seed=0).frames
        both = (mask[1:] == 0) & (mask[:-1] == 0)
        return (out[1:] - out[:-1]).abs().mean(-1)[both].mean().item()

    base = flicker(0.0)  # ~0.029 here; 0.5 gives ~0.022, 0.8 ~0.018
    assert flicker(0.5) < 0.9 * base and flicker(0.8) < 0.75 * base


def test_classical_path_imports_no_diffusers():
    code = ("import sys, torch\nfrom worldwarp.config import DiffusionConfig\nfrom worldwarp.diffusion import make_denoiser\n"
            "d = make_denoiser(DiffusionConfig())\nd(torch.rand(5, 16, 16, 3), torch.ones(5, 16, 16), 1, seed=0)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('diffusers', 'transformers')]\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_bad_smoothing_is_rejected():
    with pytest.raises(ValueError):
        PushPullFiller(1.0)
