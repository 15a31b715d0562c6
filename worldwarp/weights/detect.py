"""What a weights path is, from its file names and config files alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from ..diffusion.checkpoint import is_torch_file

Kind = Literal["wan", "diffusers_component", "qwen2_5_vl", "depth", "transformers", "stdiff"]
DEPTH_TYPES = ("depth_anything", "depth_pro")


def _config(d: Path) -> dict:
    try:
        cfg = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def is_weight_file(f: Path) -> bool:
    return f.is_file() and (f.suffix == ".safetensors" or is_torch_file(f))


def detect(path: Path, deep: bool = True) -> Kind | None:
    """The kind of ``path``, or None when it is none of them (e.g. a folder that holds several)."""
    if path.is_file():
        return "stdiff" if is_weight_file(path) else None
    if not path.is_dir():
        return None
    if (path / "model_index.json").is_file() or (path / "transformer" / "config.json").is_file():
        return "wan"
    if (path / "config.json").is_file():
        cfg = _config(path)
        if "_class_name" in cfg:
            return "diffusers_component"
        mt = cfg.get("model_type")
        if mt == "qwen2_5_vl":
            return "qwen2_5_vl"
        return "depth" if mt in DEPTH_TYPES else "transformers"
    children = list(path.iterdir())
    if deep and any(detect(c, deep=False) for c in children if c.is_dir()):
        return None  # a folder of model folders (and perhaps the .ckpt beside them): checked one by one
    if any(is_weight_file(f) for f in children):
        return "stdiff"  # a bare folder of weight files: the sharded fine-tuned transformer
    return None
