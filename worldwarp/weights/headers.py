"""Names, shapes and dtypes of the tensors in weight files, read without loading the tensors' data.

safetensors: the JSON header through ``safe_open`` (no tensor is read). Torch zip files: ``torch.load`` with
``mmap=True`` maps the file and builds tensors over it; shapes and dtypes come from the pickle, and no page of data is
touched. Legacy (pre-zip) torch files cannot be mapped and are read whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..diffusion.checkpoint import CheckpointError, is_torch_file, read_torch_state_dict

_TORCH_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
                torch.bool: "BOOL"}


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str  # safetensors' name: F32, BF16, F16, I64, ...

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def floating(self) -> bool:
        return self.dtype.startswith(("F", "BF"))


@dataclass
class Headers:
    tensors: dict[str, TensorInfo]
    files: list[Path]
    container: str = ""  # where a torch checkpoint kept its state dict ("" = top level, "ema", ...)

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors.values())

    @property
    def dtypes(self) -> str:
        return "+".join(sorted({t.dtype for t in self.tensors.values()})) or "-"


def dtype_name(dtype: torch.dtype) -> str:
    return _TORCH_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def safetensors_header(f: Path) -> dict[str, TensorInfo]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(f), framework="pt") as h:
            return {k: TensorInfo(tuple(h.get_slice(k).get_shape()), h.get_slice(k).get_dtype()) for k in h.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{f} is not a readable safetensors file ({type(e).__name__}: {e})") from None


def torch_header(f: Path) -> tuple[dict[str, TensorInfo], str]:
    sd, where = read_torch_state_dict(f)
    return {k: TensorInfo(tuple(v.shape), dtype_name(v.dtype)) for k, v in sd.items()}, where


def file_headers(f: Path) -> Headers:
    if is_torch_file(f):
        tensors, where = torch_header(f)
        return Headers(tensors, [f], where)
    return Headers(safetensors_header(f), [f])


def _index_problem(index: Path, found: dict[str, TensorInfo], shards: list[Path]) -> str | None:
    """Why a sharded checkpoint's index json disagrees with its shards, or None."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{index.name} is not a readable weight index (no weight_map)"
    names = {s.name for s in shards}
    absent = sorted({v for v in weight_map.values()} - names)
    if absent:
        return f"{index.name} lists {len(absent)} shard(s) not in the folder (e.g. {absent[0]})"
    lost = sorted(set(weight_map) - set(found))
    if lost:
        return f"{len(lost)} tensors of {index.name} are in no shard (e.g. {lost[0]})"
    return None


def dir_headers(d: Path, stem: str = "") -> Headers:
    """All tensors of a model folder's weight files (``stem``*.safetensors, else torch *.bin files), index checked."""
    shards = sorted(d.glob(f"{stem}*.safetensors"))
    if not shards:
        shards = sorted(f for f in d.glob(f"{stem}*") if f.is_file() and is_torch_file(f))
    if not shards:
        raise CheckpointError(f"no weights in {d} (expected {stem or ''}*.safetensors or a .bin/.pt/.ckpt file)")
    tensors: dict[str, TensorInfo] = {}
    container = ""
    for f in shards:
        h = file_headers(f)
        tensors.update(h.tensors)
        container = container or h.container
    for index in sorted(d.glob(f"*{shards[0].suffix}.index.json")):  # a .bin index says nothing of safetensors shards
        why = _index_problem(index, tensors, shards)
        if why:
            raise CheckpointError(f"{d}: {why}")
    return Headers(tensors, shards, container)
