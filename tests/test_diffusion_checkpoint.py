"""Loading ST-Diff weights (diffusers or original Wan key layout) and clear errors for bad model files."""

import pytest
import torch
from safetensors.torch import save_file

from worldwarp.config import DiffusionConfig
from worldwarp.diffusion import make_denoiser
from worldwarp.diffusion.backbone import check_model_dir
from worldwarp.diffusion.checkpoint import CheckpointError, load_transformer_weights, original_to_diffusers_key
from worldwarp.diffusion.standins import TINY_TRANSFORMER

# diffusers -> original Wan names, written out independently of the loader's table
_TO_ORIGINAL = [
    ("condition_embedder.time_embedder.linear_1.", "time_embedding.0."),
    ("condition_embedder.time_embedder.linear_2.", "time_embedding.2."),
    ("condition_embedder.text_embedder.linear_1.", "text_embedding.0."),
    ("condition_embedder.text_embedder.linear_2.", "text_embedding.2."),
    ("condition_embedder.time_proj.", "time_projection.1."),
    ("proj_out.", "head.head."),
    (".attn1.", ".self_attn."), (".attn2.", ".cross_attn."),
    (".to_q.", ".q."), (".to_k.", ".k."), (".to_v.", ".v."), (".to_out.0.", ".o."),
    (".norm2.", ".norm3."),
    (".ffn.net.0.proj.", ".ffn.0."), (".ffn.net.2.", ".ffn.2."),
]


def _to_original(key: str) -> str:
    if key == "scale_shift_table":
        return "head.modulation"
    if key.endswith(".scale_shift_table"):
        return key.replace(".scale_shift_table", ".modulation")
    for a, b in _TO_ORIGINAL:
        key = key.replace(a, b) if not key.startswith(a) else b + key[len(a):]
    return key


def _tiny(seed: int):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(**TINY_TRANSFORMER)


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_known_original_keys_map_to_diffusers_names():
    assert original_to_diffusers_key("blocks.3.self_attn.q.weight") == "blocks.3.attn1.to_q.weight"
    assert original_to_diffusers_key("blocks.0.cross_attn.o.bias") == "blocks.0.attn2.to_out.0.bias"
    assert original_to_diffusers_key("blocks.1.self_attn.norm_k.weight") == "blocks.1.attn1.norm_k.weight"
    assert original_to_diffusers_key("blocks.2.norm3.weight") == "blocks.2.norm2.weight"
    assert original_to_diffusers_key("blocks.2.ffn.0.weight") == "blocks.2.ffn.net.0.proj.weight"
    assert original_to_diffusers_key("blocks.2.modulation") == "blocks.2.scale_shift_table"
    assert original_to_diffusers_key("head.modulation") == "scale_shift_table"
    assert original_to_diffusers_key("time_projection.1.weight") == "condition_embedder.time_proj.weight"


def test_original_layout_with_prefix_loads_exactly(tmp_path):
    src, dst = _tiny(1), _tiny(2)
    assert not _same(src, dst)
    orig = {"model.diffusion_model." + _to_original(k): v for k, v in src.state_dict().items()}
    assert any(".self_attn." in k for k in orig) and not any(".attn1." in k for k in orig)
    f = tmp_path / "stdiff.safetensors"
    save_file(orig, str(f))
    assert load_transformer_weights(dst, f) == len(orig)
    assert _same(src, dst)


def test_sharded_diffusers_layout_directory_loads(tmp_path):
    src, dst = _tiny(3), _tiny(4)
    items = list(src.state_dict().items())
    save_file(dict(items[: len(items) // 2]), str(tmp_path / "a.safetensors"))
    save_file(dict(items[len(items) // 2:]), str(tmp_path / "b.safetensors"))
    load_transformer_weights(dst, tmp_path)
    assert _same(src, dst)


def test_missing_and_malformed_checkpoints_name_the_file(tmp_path):
    tr = _tiny(0)
    with pytest.raises(CheckpointError, match="nope.safetensors"):
        load_transformer_weights(tr, tmp_path / "nope.safetensors")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no \\*.safetensors"):
        load_transformer_weights(tr, empty)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="junk.safetensors.*not a readable"):
        load_transformer_weights(tr, junk)
    sd = tr.state_dict()
    partial = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in list(sd.items())[:-3]}, str(partial))
    with pytest.raises(CheckpointError, match="partial.safetensors.*3 missing keys"):
        load_transformer_weights(tr, partial)
    wrong = tmp_path / "wrong.safetensors"
    save_file({k: (v[:1].clone() if k == "proj_out.weight" else v) for k, v in sd.items()}, str(wrong))
    with pytest.raises(CheckpointError, match="shape mismatch.*proj_out.weight"):
        load_transformer_weights(tr, wrong)
    assert issubclass(CheckpointError, FileNotFoundError)  # so CLIs report it as a one-line user error


def test_model_dir_errors_say_what_is_expected(tmp_path):
    with pytest.raises(CheckpointError, match="model_dir is not set"):
        check_model_dir(None)
    with pytest.raises(CheckpointError, match="no-such-model.*Wan2.1-T2V-1.3B-Diffusers"):
        check_model_dir(tmp_path / "no-such-model")
    (tmp_path / "m" / "transformer").mkdir(parents=True)
    (tmp_path / "m" / "transformer" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="vae/config.json"):
        check_model_dir(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        make_denoiser(DiffusionConfig(backend="stdiff", model_dir=str(tmp_path / "no-such-model")))
