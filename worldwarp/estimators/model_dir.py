"""Checks on a local model directory in transformers' layout, before any heavy import: a missing directory,
config or weights, or the wrong model type, is one CheckpointError line naming the path and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

from ..diffusion.checkpoint import CheckpointError


def read_json_object(path: Path, what: str | None = None) -> dict:
    """A JSON file holding an object, or a one-line CheckpointError (naming ``what`` was expected, if given)."""
    hint = f"; expected {what}" if what else ""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not readable JSON ({type(e).__name__}){hint}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object{hint}")
    return data


def check_model_dir(path: str | Path | None, model_types: tuple[str, ...], what: str) -> dict:
    """The directory's config.json as a dict, after checking the directory, its weights and its model_type."""
    if path is None:
        raise CheckpointError(f"no model directory configured; expected a local {what} directory")
    p = Path(path)
    if not p.is_dir():
        raise CheckpointError(f"model directory not found: {p} (expected a local {what} directory in transformers' layout)")
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{p} has no config.json (expected a {what} directory saved with save_pretrained)")
    cfg = read_json_object(cfg_path, f"a {what} config")
    mt = cfg.get("model_type")
    if mt not in model_types:
        raise CheckpointError(f"{cfg_path} has model_type {mt!r}; expected {' or '.join(map(repr, model_types))} ({what})")
    if not (list(p.glob("*.safetensors")) or list(p.glob("*.bin")) or list(p.glob("*.safetensors.index.json"))):
        raise CheckpointError(f"{p} has no weights (*.safetensors or *.bin); expected {what} weights")
    return cfg


def read_preprocessor_config(path: str | Path, what: str) -> dict:
    """preprocessor_config.json of a model directory (image mean/std/size), or a one-line error."""
    f = Path(path) / "preprocessor_config.json"
    if not f.is_file():
        raise CheckpointError(f"{Path(path)} has no preprocessor_config.json (expected {what}'s image processor, "
                              "saved with save_pretrained)")
    return read_json_object(f, f"{what}'s image processor config")
