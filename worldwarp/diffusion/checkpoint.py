"""Loading the fine-tuned ST-Diff transformer weights over the Wan backbone.

Accepted: a .safetensors file or a directory of them (sharded, with or without an index json), or a torch file
(.ckpt/.pt/.pth/.bin, e.g. the authors' ``worldwarp_latest.ckpt``). Torch files are read with
``torch.load(weights_only=True)`` (memory-mapped where the format allows): tensors and plain containers only, so a
pickle that would build arbitrary objects is refused, never executed. A state dict nested in a training checkpoint
("state_dict", "ema", "model", "module", ...) is found. Keys may be in diffusers' WanTransformer3DModel layout or in
the original Wan repository's layout (mapped here); common wrappers ("model.diffusion_model.", "module.",
"transformer.", "model.") are stripped.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch


class CheckpointError(FileNotFoundError):
    """Model files missing or malformed. A FileNotFoundError so command lines report it as a one-line user error."""


_PREFIXES = ("model.diffusion_model.", "module.", "transformer.", "diffusion_model.", "model.")

# original Wan name -> diffusers name, applied to the dotted path after the block index (order matters)
_BLOCK_RENAMES = [
    (r"^self_attn\.", "attn1."), (r"^cross_attn\.", "attn2."),
    (r"\.q\.", ".to_q."), (r"\.k\.", ".to_k."), (r"\.v\.", ".to_v."), (r"\.o\.", ".to_out.0."),
    (r"\.k_img\.", ".add_k_proj."), (r"\.v_img\.", ".add_v_proj."), (r"\.norm_k_img\.", ".norm_added_k."),
    # the original's norm3 is the cross-attention norm (diffusers: norm2); its affine-free norm2 has no weights
    (r"^norm3\.", "norm2."),
    (r"^ffn\.0\.", "ffn.net.0.proj."), (r"^ffn\.2\.", "ffn.net.2."),
    (r"^modulation$", "scale_shift_table"),
]
_TOP_RENAMES = {
    "time_embedding.0.": "condition_embedder.time_embedder.linear_1.",
    "time_embedding.2.": "condition_embedder.time_embedder.linear_2.",
    "text_embedding.0.": "condition_embedder.text_embedder.linear_1.",
    "text_embedding.2.": "condition_embedder.text_embedder.linear_2.",
    "time_projection.1.": "condition_embedder.time_proj.",
    "head.head.": "proj_out.",
    "head.modulation": "scale_shift_table",
}


TORCH_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# containers a training script may put the weights under; EMA first: a diffusion model samples with those
_CONTAINERS = ("state_dict_ema", "ema", "model_ema", "ema_model", "ema_state_dict", "state_dict", "model",
               "module", "model_state_dict", "transformer", "net", "network", "weights", "params")


def is_torch_file(f: Path) -> bool:
    return f.suffix.lower() in TORCH_SUFFIXES


def weight_files(path: Path) -> list[Path]:
    """The weight files at ``path``: the file itself, or a directory's *.safetensors (else its torch files)."""
    if not path.exists():
        raise CheckpointError(f"ST-Diff weights not found: {path} (expected a .safetensors or .ckpt/.pt/.pth/.bin "
                              "file, or a directory of them)")
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.safetensors")) or sorted(f for f in path.iterdir() if f.is_file() and is_torch_file(f))
    if not files:
        raise CheckpointError(f"no *.safetensors or torch checkpoint (.ckpt/.pt/.pth/.bin) in {path} "
                              "(expected the fine-tuned Wan transformer weights)")
    return files


def _refusal(e: Exception) -> str:
    """The one useful phrase of torch's multi-paragraph weights_only error."""
    m = re.search(r"GLOBAL ([\w.]+)", str(e))
    if m:
        return f"global {m.group(1)}"
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith("Check the documentation")]
    return (lines or [type(e).__name__])[-1][:120]


def load_torch_file(f: Path, safe_globals: tuple = ()) -> object:
    """``torch.load`` with weights_only (tensors and containers only, plus ``safe_globals``: plain attribute
    holders such as argparse.Namespace), memory-mapped for zip-format files."""
    mmap = zipfile.is_zipfile(f)  # the legacy (pre-1.6) pickle format cannot be memory-mapped
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(f, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e):
            raise CheckpointError(
                f"{f} is not a plain tensor checkpoint: torch.load(weights_only=True) refused {_refusal(e)} "
                "(we never unpickle arbitrary objects; where the file is trusted, re-save its state dict alone)"
            ) from None
        raise CheckpointError(f"{f} is not a readable torch checkpoint ({_refusal(e)})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{f} is not a readable torch checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None


def _is_tensor_dict(obj: object) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def find_state_dict(obj: object, source: Path, depth: int = 3) -> tuple[dict[str, torch.Tensor], str]:
    """The tensor state dict inside a loaded checkpoint and where it was ("" = top level, "ema", "model.module")."""
    if _is_tensor_dict(obj):
        return dict(obj), ""
    if isinstance(obj, dict) and depth > 0:
        for name in _CONTAINERS:
            if isinstance(obj.get(name), dict):
                try:
                    sd, where = find_state_dict(obj[name], source, depth - 1)
                except CheckpointError:
                    continue
                return sd, ".".join(p for p in (name, where) if p)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:  # a flat state dict with a few bookkeeping entries (step counters, versions)
            return tensors, ""
    top = sorted(map(str, obj))[:6] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"{source} holds no tensor state dict (top level: {top}); expected a plain state dict or "
                          f"one under one of {list(_CONTAINERS[:6])}")


def read_torch_state_dict(f: Path) -> tuple[dict[str, torch.Tensor], str]:
    return find_state_dict(load_torch_file(f), f)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    sd: dict[str, torch.Tensor] = {}
    for f in weight_files(path):
        if is_torch_file(f):
            sd.update(read_torch_state_dict(f)[0])
            continue
        try:
            sd.update(load_file(str(f)))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{f} is not a readable safetensors file ({type(e).__name__}: {e})") from e
    return sd


def is_original_layout(keys) -> bool:
    return any(".self_attn." in k or k.startswith("head.head.") for k in keys)


def _strip_prefix(key: str) -> str:
    for p in _PREFIXES:
        if key.startswith(p):
            return key[len(p):]
    return key


def original_to_diffusers_key(key: str) -> str:
    """Map one original-Wan key to diffusers' name (e.g. blocks.3.self_attn.q.weight -> blocks.3.attn1.to_q.weight)."""
    m = re.match(r"^blocks\.(\d+)\.(.*)$", key)
    if m:
        rest = m.group(2)
        for pat, rep in _BLOCK_RENAMES:
            rest = re.sub(pat, rep, rest)
        return f"blocks.{m.group(1)}.{rest}"
    for old, new in _TOP_RENAMES.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def to_diffusers_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = {_strip_prefix(k): v for k, v in sd.items()}
    if is_original_layout(sd):
        sd = {original_to_diffusers_key(k): v for k, v in sd.items()}
    return sd


def check_against(sd: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: Path,
                  what: str = "a WanTransformer3DModel matching the backbone's config",
                  hint: str = " (diffusers or original Wan key layout expected)") -> None:
    """Raise a CheckpointError naming ``source`` unless ``sd`` has exactly the expected keys and shapes."""
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = sorted(k for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k].shape))
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} shape mismatches (e.g. {k}: {tuple(sd[k].shape)} vs {tuple(expected[k].shape)})")
    raise CheckpointError(f"{source} does not hold {what}: " + "; ".join(parts) + hint)


def load_transformer_weights(transformer: torch.nn.Module, path: str | Path) -> int:
    """Load ST-Diff weights over ``transformer`` in place (dtype/device kept); returns the number of tensors."""
    path = Path(path)
    sd = to_diffusers_layout(read_state_dict(path))
    check_against(sd, transformer.state_dict(), path)
    with torch.no_grad():
        own = transformer.state_dict()
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))
    return len(sd)
