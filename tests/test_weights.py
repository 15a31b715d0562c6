"""Released-checkpoint loading (a torch .ckpt like the authors' worldwarp_latest.ckpt), `worldwarp weights convert`
and `worldwarp weights check`, with the tiny Wan stand-in and real diffusers / safetensors / torch files."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from flows.cli import app
from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import make_denoiser
from worldwarp.diffusion.checkpoint import CheckpointError, load_transformer_weights
from worldwarp.diffusion.standins import TINY_TRANSFORMER, build_tiny_wan
from worldwarp.weights import check

from conftest import cli_env


def _tiny(seed: int):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(**TINY_TRANSFORMER)


def _released_sd(seed: int = 7) -> dict[str, torch.Tensor]:
    """What the authors ship: the diffusers state dict of a transformer of the backbone's config, in bf16."""
    return {k: v.to(torch.bfloat16) for k, v in _tiny(seed).state_dict().items()}


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _equal_as_float(loaded: dict[str, torch.Tensor], sd: dict[str, torch.Tensor]) -> bool:
    return loaded.keys() == sd.keys() and all(torch.equal(loaded[k], sd[k].to(loaded[k].dtype)) for k in sd)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def wan_dir(tmp_path_factory) -> Path:
    return build_tiny_wan(tmp_path_factory.mktemp("weights") / "Wan2.1-T2V-1.3B-Diffusers")


@pytest.fixture(scope="module")
def released(wan_dir) -> tuple[Path, dict[str, torch.Tensor]]:
    sd = _released_sd()
    f = wan_dir.parent / "worldwarp_latest.ckpt"
    torch.save(sd, f)
    return f, sd


def test_released_ckpt_loads_through_make_denoiser(wan_dir, released, tmp_path):
    ckpt, sd = released
    den = make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(wan_dir), stdiff_weights=str(ckpt),
                                        prompt_cache=str(tmp_path / "prompts")))
    got = _weights(den.bb.transformer)
    assert den.name == "stdiff-wan2.1" and got["proj_out.weight"].dtype == torch.float32  # CPU: fp32 model
    assert _equal_as_float(got, sd)
    base = make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(wan_dir), prompt_cache=str(tmp_path / "p")))
    assert not torch.equal(_weights(base.bb.transformer)["proj_out.weight"], got["proj_out.weight"])


def test_wrapped_and_legacy_checkpoints_load(tmp_path):
    sd = _released_sd(3)
    other = _released_sd(4)
    variants = {
        "state_dict.ckpt": {"state_dict": sd, "epoch": 3, "global_step": 1200},
        "module.pt": {"module": {f"module.{k}": v for k, v in sd.items()}},
        # a training checkpoint with both: the EMA weights are the ones to sample with
        "ema.pth": {"ema": sd, "model": other, "opt": {"lr": 1e-4, "betas": (0.9, 0.99)}, "step": 5},
        "nested.bin": {"model": {"state_dict": sd}},
    }
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
    torch.save(sd, tmp_path / "legacy.ckpt", _use_new_zipfile_serialization=False)  # cannot be memory-mapped
    for name in [*variants, "legacy.ckpt"]:
        tr = _tiny(0)
        assert load_transformer_weights(tr, tmp_path / name) == len(sd), name
        assert _equal_as_float(_weights(tr), sd), name


def test_convert_writes_safetensors_that_load_identically(released, tmp_path):
    ckpt, sd = released
    r = _cli("weights", "convert", str(ckpt), str(tmp_path))
    assert r.exit_code == 0, r.output
    out = tmp_path / "worldwarp_latest.safetensors"
    assert str(out) in r.stdout
    conv = load_file(str(out))
    assert conv.keys() == sd.keys() and all(conv[k].dtype == torch.bfloat16 and torch.equal(conv[k], sd[k]) for k in sd)
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata()["source"] == "worldwarp_latest.ckpt"
    a, b = _tiny(0), _tiny(0)
    load_transformer_weights(a, ckpt)
    load_transformer_weights(b, out)
    assert _equal_as_float(_weights(a), _weights(b))
    again = _cli("weights", "convert", str(ckpt), str(out))
    assert again.exit_code == 2 and "exists" in again.stderr and "--overwrite" in again.stderr


def test_convert_handles_shared_and_strided_tensors(tmp_path):
    w = torch.randn(6, 4)
    obj = {"state_dict": {"emb.weight": w, "head.weight": w, "t.weight": w.t(), "half": w[:3]}}
    torch.save(obj, tmp_path / "tied.pt")
    r = _cli("weights", "convert", str(tmp_path / "tied.pt"), str(tmp_path / "tied.safetensors"))
    assert r.exit_code == 0, r.output
    conv = load_file(str(tmp_path / "tied.safetensors"))
    for k, v in obj["state_dict"].items():
        assert torch.equal(conv[k], v), k


class _Trap:
    """Unpickling this would create ``path``: the test proves the loaders never run it."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@dataclasses.dataclass
class _TrainArgs:
    lr: float = 1e-4


def test_pickles_with_objects_are_refused_without_running_them(wan_dir, tmp_path):
    marker = tmp_path / "unpickled.txt"
    evil = tmp_path / "evil.ckpt"
    torch.save({**_released_sd(), "args": _Trap(marker)}, evil)
    armed = tmp_path / "armed.txt"
    torch.save({"x": _Trap(armed)}, tmp_path / "armed.ckpt")
    torch.load(tmp_path / "armed.ckpt", weights_only=False)  # the trap is real: a plain unpickle springs it
    assert armed.exists()

    for cmd in (["weights", "convert", str(evil), str(tmp_path / "out.safetensors")], ["weights", "check", str(evil)]):
        r = _cli(*cmd)
        assert r.exit_code == 2, r.output
        errors = r.stderr.strip().splitlines()
        assert errors and all(line.startswith("error:") for line in errors)
        assert "evil.ckpt" in r.output and "not a plain tensor checkpoint" in r.output and "weights_only" in r.output
    with pytest.raises(CheckpointError, match="evil.ckpt is not a plain tensor checkpoint") as e:
        load_transformer_weights(_tiny(0), evil)
    assert "\n" not in str(e.value)
    torch.save({"state_dict": _released_sd(), "hparams": _TrainArgs()}, tmp_path / "dataclass.ckpt")
    with pytest.raises(CheckpointError, match="dataclass.ckpt.*_TrainArgs"):
        load_transformer_weights(_tiny(0), tmp_path / "dataclass.ckpt")
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_check_passes_on_tiny_wan_and_released_ckpt(wan_dir, released):
    ckpt, _ = released
    r = _cli("weights", "check", str(wan_dir), str(ckpt))
    assert r.exit_code == 0, r.output
    rows = r.stdout.strip().splitlines()
    names = [row.split()[1] for row in rows]
    assert names == [f"{wan_dir.name}/transformer", f"{wan_dir.name}/vae", f"{wan_dir.name}/text_encoder",
                     f"{wan_dir.name}/tokenizer", "worldwarp_latest.ckpt"]
    assert all(row.startswith("ok ") for row in rows)
    assert "BF16" in rows[-1] and str(wan_dir / "transformer" / "config.json") in rows[-1]
    # the folder that holds both is checked item by item, the .ckpt against the Wan folder beside it
    assert [f.component for f in check([wan_dir.parent])] == names and all(f.ok for f in check([wan_dir.parent]))


def test_check_flags_bad_files_and_missing_vae(wan_dir, released, tmp_path):
    _, sd = released
    shape = {k: (v[:1].clone() if k == "proj_out.weight" else v) for k, v in sd.items()}
    torch.save(shape, tmp_path / "shape.ckpt")
    save_file({k: v for k, v in list(sd.items())[:-2]}, str(tmp_path / "partial.safetensors"))
    no_vae = shutil.copytree(wan_dir, tmp_path / "no_vae")
    shutil.rmtree(no_vae / "vae")
    r = _cli("weights", "check", "--model-dir", str(wan_dir), str(tmp_path / "shape.ckpt"),
             str(tmp_path / "partial.safetensors"), str(no_vae))
    assert r.exit_code == 2
    rows = r.stdout.strip().splitlines()
    problems = [row for row in rows if row.startswith("PROBLEM")]
    assert len(rows) == 6 and len(problems) == 3
    assert "shape.ckpt" in problems[0] and "proj_out.weight" in problems[0] and "shape mismatch" in problems[0]
    assert "partial.safetensors" in problems[1] and "2 missing keys" in problems[1]
    assert "no_vae/vae" in problems[2] and "config.json" in problems[2]
    assert r.stderr.strip() == "error: 3 of 6 components have problems"
    # the tiny file against the built-in Wan2.1-1.3B config (no --model-dir, no Wan folder): wrong shapes
    (f,) = check([released[0]])
    assert not f.ok and "shape mismatch" in f.detail and "Wan2.1-T2V-1.3B (built-in config)" in f.detail


_PEAK_RSS = """
import resource, sys
from pathlib import Path
from worldwarp.weights import check

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

small, big = (Path(a) for a in sys.argv[1:])
warm = check([small / "a.ckpt", small / "b.safetensors"])  # imports, meta model, first file reads
before = peak_mib()
found = check([big / "a.ckpt", big / "b.safetensors"])
print(peak_mib() - before, *(f.ok for f in warm + found), *(f.detail for f in found), sep="\\n")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_check_reads_headers_not_tensors(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    for d, numel in ((small, 1000), (big, 50_000_000)):  # big: 200 MB of float32 per file
        d.mkdir()
        x = torch.ones(numel)
        torch.save({"x": x}, d / "a.ckpt")
        save_file({"x": x}, str(d / "b.safetensors"))
        del x
    # a fresh process: its peak memory after the small files is its working size; reading either 200 MB
    # tensor would lift the peak by 200 MB, headers and a memory map leave it where it was
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(small), str(big)], env=cli_env(), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    rise, oks, details = float(out[0]), out[1:5], out[5:]
    assert oks == ["False"] * 4  # a lone "x" is no Wan transformer
    assert all("unexpected keys (e.g. ['x'])" in d for d in details), details
    assert rise < 40, f"peak memory rose by {rise:.0f} MiB while checking two 200 MB files"


def test_check_a_downloads_folder_with_depth_model_and_broken_index(wan_dir, released, tmp_path):
    from worldwarp.estimators.standins import build_tiny_depth_anything

    root = tmp_path / "weights"
    shutil.copytree(wan_dir, root / wan_dir.name)
    (root / "worldwarp" / ".cache" / "huggingface").mkdir(parents=True)  # as `hf download --local-dir` leaves it
    shutil.copy(released[0], root / "worldwarp")
    depth = build_tiny_depth_anything(root / "Depth-Anything-V2-Small-hf")
    found = check([root])
    assert all(f.ok for f in found), [f.detail for f in found if not f.ok]
    assert [f.component for f in found][:2] == ["Depth-Anything-V2-Small-hf", "Depth-Anything-V2-Small-hf/processor"]
    assert found[-1].component == "worldwarp" and "BF16" in found[-1].detail

    keys = list(load_file(str(depth / "model.safetensors")))
    index = {"metadata": {}, "weight_map": {**{k: "model.safetensors" for k in keys},
                                            "head.extra.weight": "model-00002-of-00002.safetensors"}}
    (depth / "model.safetensors.index.json").write_text(json.dumps(index))
    (depth / "preprocessor_config.json").unlink()
    bad = [f for f in check([root]) if not f.ok]
    assert [f.component for f in bad] == ["Depth-Anything-V2-Small-hf", "Depth-Anything-V2-Small-hf/processor"]
    assert "model-00002-of-00002.safetensors" in bad[0].detail and "preprocessor_config.json" in bad[1].detail


def test_run_preflight_accepts_the_ckpt_and_names_a_missing_one(wan_dir, released, tmp_path):
    from flows.checks import preflight
    from worldwarp.config import load_params

    base = ["diffusion.backend=stdiff", f"diffusion.model_dir={wan_dir}"]
    preflight(load_params(None, [*base, f"diffusion.stdiff_weights={released[0]}"]), outputs=[tmp_path])
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        preflight(load_params(None, [*base, f"diffusion.stdiff_weights={tmp_path / 'nope.ckpt'}"]), outputs=[tmp_path])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors or torch checkpoint"):
        preflight(load_params(None, [*base, f"diffusion.stdiff_weights={tmp_path / 'empty'}"]), outputs=[tmp_path])
