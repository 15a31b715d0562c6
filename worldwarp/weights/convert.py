"""`worldwarp weights convert`: a torch checkpoint (e.g. worldwarp_latest.ckpt) to one .safetensors file.

The file is read with the same safe loader as a run (weights_only, memory-mapped); the state dict is written as
it is found (keys unchanged, dtype kept), so the result loads to identical tensors wherever the original does.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..diffusion.checkpoint import CheckpointError, is_torch_file, read_torch_state_dict


def safetensors_ready(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous tensors that share no storage (safetensors refuses aliasing; tied weights become copies)."""
    seen: set[int] = set()
    out = {}
    for k, v in sd.items():
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen or not v.is_contiguous():
            v = v.clone(memory_format=torch.contiguous_format)
        seen.add(ptr)
        out[k] = v
    return out


def output_path(src: Path, out: Path) -> Path:
    if out.is_dir():
        return out / f"{src.stem}.safetensors"
    if out.suffix != ".safetensors":
        raise CheckpointError(f"output {out} should end in .safetensors (or be an existing directory)")
    return out


def convert(src: str | Path, out: str | Path, overwrite: bool = False) -> tuple[Path, int]:
    """Write ``src``'s state dict to a safetensors file; returns (its path, the number of tensors)."""
    from safetensors.torch import save_file

    src, out = Path(src).expanduser(), output_path(Path(src).expanduser(), Path(out).expanduser())
    if not src.is_file():
        raise CheckpointError(f"{src} not found (expected a torch checkpoint: .ckpt/.pt/.pth/.bin)")
    if not is_torch_file(src):
        raise CheckpointError(f"{src} is not a torch checkpoint (.ckpt/.pt/.pth/.bin); nothing to convert")
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out} exists (pass --overwrite to replace it)")
    sd, where = read_torch_state_dict(src)
    meta = {"format": "pt", "source": src.name, "source_container": where or "<top level>",
            "converted_by": "worldwarp weights convert"}
    tmp = out.with_name(f".{out.name}.partial")
    try:
        save_file(safetensors_ready(sd), str(tmp), metadata=meta)
        os.replace(tmp, out)  # never leave a half-written file under the final name
    finally:
        tmp.unlink(missing_ok=True)
    return out, len(sd)
