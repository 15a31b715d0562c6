"""diffusion.attention=fa4 (FlashAttention-4 under PyTorch's SDPA): where it cannot run it says why, in one line,
before any work; the other backends switch it off again; "auto" is not fooled by the package's namespace.
Its speed and numbers on the H100 are in docs/BENCHMARKS.md §12 (benchmarks/attention_gpu.py)."""

import sys

import pytest
import torch

from test_cli_errors import _assert_demo_refused
from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import backbone, flash4, make_denoiser
from worldwarp.diffusion.standins import build_tiny_wan


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_wan(tmp_path_factory.mktemp("tiny_wan_fa4"))


def test_config_takes_fa4_and_rejects_unknown():
    assert DiffusionConfig(attention="fa4").attention == "fa4"
    with pytest.raises(ValueError, match="attention"):
        DiffusionConfig(attention="fa5")


def test_cpu_says_why(model_dir, tmp_path):
    assert flash4.unavailable(torch.device("cpu")) == "it needs a CUDA GPU"
    with pytest.raises(ValueError, match=r"^diffusion.attention=fa4: it needs a CUDA GPU$"):
        make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(model_dir), attention="fa4",
                                      prompt_cache=str(tmp_path / "prompts")))


def test_other_backends_switch_fa4_off(model_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(flash4, "deactivate", lambda: calls.append("off"))
    tr = backbone.load_backbone(model_dir, torch.float32, torch.float32).transformer
    backbone.set_attention(tr, "native", torch.device("cpu"))
    assert calls == ["off"]
    with pytest.raises(ValueError, match="fa4"):
        backbone.set_attention(tr, "fa4", torch.device("cpu"))
    assert calls == ["off"]  # a refused fa4 changes nothing


def test_deactivate_without_activation_is_a_no_op():
    flash4.deactivate()
    from torch.nn.attention import current_flash_attention_impl

    assert current_flash_attention_impl() is None


def test_auto_never_takes_flash_attn_2(tmp_path, monkeypatch):
    """Installed flash-attn 2 (and flash-attn-4's namespace) do not make "auto" leave SDPA: on the H100 the FA2
    kernel ran at 360 TFLOP/s against cuDNN's 613 under SDPA (docs/BENCHMARKS.md §12)."""
    (tmp_path / "flash_attn" / "cute").mkdir(parents=True)
    (tmp_path / "flash_attn" / "cute" / "__init__.py").write_text("")
    (tmp_path / "flash_attn" / "flash_attn_interface.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    for m in [m for m in sys.modules if m.startswith("flash_attn")]:
        monkeypatch.delitem(sys.modules, m)
    assert backbone.pick_attention("auto", torch.device("cuda")) == "native"  # no GPU here: FA4 cannot run
    assert backbone.pick_attention("auto", torch.device("cpu")) == "native"
    assert backbone.pick_attention("flash", torch.device("cuda")) == "flash"


def test_cli_one_line_error(model_dir, tmp_path, tiny):
    _assert_demo_refused(tmp_path / "out", tiny, ["diffusion.backend=stdiff", f"diffusion.model_dir={model_dir}",
                                                   "diffusion.attention=fa4"], "diffusion.attention=fa4: it needs a CUDA GPU")


def test_shim_hands_torch_out_and_lse(tmp_path, monkeypatch):
    """flash-attn-4 4.0.0b36 returns five values where torch 2.11's FA4 glue unpacks two (seen on the H100)."""
    pkg = tmp_path / "flash_attn" / "cute"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "interface.py").write_text("def _flash_attn_fwd(q, k, v, **kw):\n    return q + 1, q + 2, None, None, None\n"
                                      "def _flash_attn_bwd(*a, **k):\n    return 'bwd'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for m in [m for m in sys.modules if m.startswith("flash_attn") or m.endswith("fa4_kernels")]:
        monkeypatch.delitem(sys.modules, m)
    import importlib

    shim = importlib.import_module(flash4._SHIM)
    out, lse = shim._flash_attn_fwd(torch.zeros(2), None, None, softmax_scale=0.1)
    assert torch.equal(out, torch.ones(2)) and torch.equal(lse, torch.full((2,), 2.0))
    assert shim._flash_attn_bwd() == "bwd"
    monkeypatch.delitem(sys.modules, flash4._SHIM)


def test_registration_points_torch_at_the_shim(monkeypatch):
    from torch.nn.attention import _registry

    monkeypatch.setattr(_registry, "_FLASH_ATTENTION_IMPLS", dict(_registry._FLASH_ATTENTION_IMPLS))
    flash4._register_shim()
    fn = _registry._FLASH_ATTENTION_IMPLS["FA4"]
    assert fn.keywords == {"module_path": flash4._SHIM}


def test_auto_takes_fa4_where_it_runs(monkeypatch):
    monkeypatch.setattr(flash4, "unavailable", lambda device: None)
    assert backbone.pick_attention("auto", torch.device("cuda")) == "fa4"
    assert backbone.pick_attention("auto", torch.device("cpu")) == "native"
    assert backbone.pick_attention("native", torch.device("cuda")) == "native"


def test_auto_falls_back_when_fa4_fails_to_switch_on(model_dir, monkeypatch):
    """An installed but broken FA4 costs "auto" a warning, not the run; asked for by name, it is an error."""
    monkeypatch.setattr(backbone, "pick_attention", lambda name, device: "fa4")
    bb = backbone.load_backbone(model_dir, torch.float32, torch.float32)
    args = dict(offload="none", vae_tiling=False, vae_slicing=False, compile_blocks=False)
    with pytest.warns(UserWarning, match="diffusion.attention=auto: .*fa4.*using PyTorch SDPA"):
        assert backbone.configure(bb, torch.device("cpu"), attention="auto", **args) == "native"
    with pytest.raises(ValueError, match="diffusion.attention=fa4: it needs a CUDA GPU"):
        backbone.configure(bb, torch.device("cpu"), attention="fa4", **args)
