"""The stacked SSIM (worldwarp/splat/ssim.py) is pytorch_msssim's SSIM: value and gradient to float32 rounding."""

from __future__ import annotations

import pytest
import torch
from pytorch_msssim import ssim as msssim_ssim

from worldwarp.config.splat import SplatConfig
from worldwarp.splat.optimize import photometric_loss, ssim_impl
from worldwarp.splat.ssim import ssim


def _pair(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(shape, generator=g)
    # a prediction near its target, as in the 3DGS loss, plus an unrelated one below
    x = (y + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)
    return x, y


@pytest.mark.parametrize("shape", [(1, 3, 40, 56), (2, 3, 96, 160), (1, 1, 11, 11), (1, 3, 8, 64)])
def test_value_and_gradient_equal_pytorch_msssim(shape):
    x, y = _pair(shape)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    ref = msssim_ssim(a, y, data_range=1.0, size_average=True)
    out = ssim(b, y)
    (ga,) = torch.autograd.grad(ref, a)
    (gb,) = torch.autograd.grad(out, b)
    assert 0.2 < float(ref) < 0.99  # a real SSIM value, not a degenerate one
    assert abs(float(out) - float(ref)) < 1e-6
    assert float((ga - gb).abs().max()) <= 1e-5 * float(ga.abs().max())


def test_tells_different_images_apart():
    x, y = _pair((1, 3, 48, 64))
    assert float(ssim(y, y)) == pytest.approx(1.0, abs=1e-6)
    assert 0.5 < float(ssim(x, y)) < 0.97
    assert float(ssim(torch.rand(1, 3, 48, 64), y)) < 0.1


def test_loss_same_with_either_implementation():
    x, y = _pair((1, 64, 96, 3), seed=3)
    a = photometric_loss(x, y, 0.2, "pytorch_msssim")
    b = photometric_loss(x, y, 0.2, "stacked")
    assert abs(float(a) - float(b)) < 1e-7


def test_auto_picks_stacked_on_cuda_only():
    assert SplatConfig().ssim == "auto"
    assert ssim_impl("auto", torch.device("cpu")) == "pytorch_msssim"
    assert ssim_impl("auto", torch.device("cuda")) == "stacked"
    assert ssim_impl("stacked", torch.device("cpu")) == "stacked"


def test_shape_mismatch_is_one_clear_error():
    with pytest.raises(ValueError, match="one shape"):
        ssim(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 15))
