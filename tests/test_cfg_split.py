"""diffusion.cfg_device: the unconditional half of each guided step on a second device (here a second CPU copy).

Same chunk, same seed: the split path must give the one-device path's latents up to the summation order of a
batch-1 against a batch-2 forward (fp32 on the CPU: <= 1e-5), for both samplers, with the copy running exactly the
guided steps, each through its own time table.
"""

import pytest
import torch

from test_cli_errors import _assert_demo_refused
from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import cfg_split, make_denoiser
from worldwarp.diffusion.standins import build_tiny_wan
from worldwarp.diffusion.time_table import time_table as real_time_table

F, H, W, HIST = 9, 64, 96, 5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_wan(tmp_path_factory.mktemp("tiny_wan_cfg_split"))


def _chunk():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    warped = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 3 * yy + c) for c in range(3)], -1)[None].repeat(F, 1, 1, 1)
    mask = torch.ones(F, H, W)
    mask[HIST:, :, 48:] = 0
    return warped * mask[..., None], mask


def _run_denoiser(model_dir, tmp_path, **over):
    kw = dict(backend="stdiff", model_dir=str(model_dir), steps=6, prompt_cache=str(tmp_path / "prompts"))
    den = make_denoiser(DiffusionConfig(**{**kw, **over}))
    warped, mask = _chunk()
    return den, den(warped, mask, HIST, seed=3, progress=False)


@pytest.mark.parametrize("sampler", ["tokenwise", "official"])
@pytest.mark.parametrize("interval", [(0.0, 1.0), (0.5, 1.0)])
def test_split_equals_batched(model_dir, tmp_path, monkeypatch, sampler, interval):
    tables = []

    def recording(model, steps, enabled=True):
        cm = real_time_table(model, steps, enabled=enabled)

        class Wrap:
            def __enter__(self):
                t = cm.__enter__()
                tables.append(t)
                return t

            def __exit__(self, *a):
                return cm.__exit__(*a)
        return Wrap()

    monkeypatch.setattr(cfg_split, "time_table", recording)
    _, ref = _run_denoiser(model_dir, tmp_path, sampler=sampler, guidance_interval=interval)
    den, out = _run_denoiser(model_dir, tmp_path, sampler=sampler, guidance_interval=interval, cfg_device="cpu")
    a, b = ref.latents["z_out"], out.latents["z_out"]
    assert (a - b).abs().max() <= 1e-5, (a - b).abs().max()
    assert (ref.frames - out.frames).abs().max() <= 1e-4
    assert out.info["cfg_device"] == "cpu" and ref.info["cfg_device"] is None
    assert den.replica.forwards == out.info["guided_forwards"] > 0
    if interval[0] > 0 and sampler == "tokenwise":  # the authors' sampler guides every step
        assert out.info["guided_forwards"] < out.info["forwards"]  # unguided steps stay on the main device
    assert len(tables) == 1 and tables[0].table_forwards == den.replica.forwards and tables[0].stock_forwards == 0


def test_wrong_prompt_on_the_copy_would_show(model_dir, tmp_path, monkeypatch):
    """The comparison above can fail: the copy running the cond prompt instead moves the latents far off."""
    _, ref = _run_denoiser(model_dir, tmp_path)
    real = cfg_split.UncondReplica.loop
    monkeypatch.setattr(cfg_split.UncondReplica, "loop",
                        lambda self, uncond, steps, tt: real(self, uncond * 0 + 1, steps, tt))
    _, out = _run_denoiser(model_dir, tmp_path, cfg_device="cpu")
    assert (ref.latents["z_out"] - out.latents["z_out"]).abs().max() > 1e-3


def test_config_refuses_what_cannot_split():
    with pytest.raises(ValueError, match="cfg_device cannot be combined with diffusion.step_cache"):
        DiffusionConfig(cfg_device="cuda:1", step_cache="first_block")
    with pytest.raises(ValueError, match="cfg_device needs diffusion.offload=none"):
        DiffusionConfig(cfg_device="cuda:1", offload="model")


def test_cli_names_a_missing_gpu(model_dir, tmp_path, tiny):
    _assert_demo_refused(tmp_path / "out", tiny, ["diffusion.backend=stdiff", f"diffusion.model_dir={model_dir}",
                                                   "diffusion.cfg_device=cuda:1"], "diffusion.cfg_device=cuda:1: this machine has 0 CUDA device(s)")


def test_settings_without_the_config_are_checked_too(model_dir, tmp_path):
    from worldwarp.diffusion.settings import StDiffSettings
    from worldwarp.diffusion.stdiff import StDiffDenoiser

    s = StDiffSettings(model_dir=str(model_dir), cfg_device="cpu", step_cache="first_block",
                       prompt_cache=str(tmp_path / "prompts"))
    with pytest.raises(ValueError, match="cfg_device needs diffusion.step_cache=none"):
        StDiffDenoiser(s, "cpu")
