"""The state dict a diffusers component expects, built from its config on the ``meta`` device (no memory, no data)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..diffusion.checkpoint import CheckpointError
from ..estimators.model_dir import read_json_object
from .headers import TensorInfo, dtype_name


def read_config(path: Path) -> dict:
    return read_json_object(path)


def meta_state_dict(class_name: str, config: dict) -> dict[str, TensorInfo]:
    """Keys, shapes and dtypes of ``diffusers.<class_name>(**config)``, instantiated on the meta device."""
    import diffusers

    cls = getattr(diffusers, class_name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise CheckpointError(f"config names class {class_name!r}, which this diffusers does not provide")
    try:
        with torch.device("meta"):
            model = cls.from_config(config)
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"cannot build {class_name} from its config: {e}") from None
    return {k: TensorInfo(tuple(v.shape), dtype_name(v.dtype)) for k, v in model.state_dict().items()}


def component_expected(component_dir: Path) -> tuple[str, dict[str, TensorInfo]]:
    """(class name, expected tensors) of a diffusers component folder (``transformer/``, ``vae/``)."""
    cfg = read_config(component_dir / "config.json")
    name = cfg.get("_class_name")
    if not isinstance(name, str):
        raise CheckpointError(f"{component_dir / 'config.json'} has no _class_name (not a diffusers component config)")
    return name, meta_state_dict(name, cfg)


def wan_1_3b_expected() -> dict[str, TensorInfo]:
    """The Wan2.1-T2V-1.3B transformer, for an ST-Diff file checked without a model directory."""
    from ..diffusion.standins import WAN21_1_3B

    return meta_state_dict("WanTransformer3DModel", WAN21_1_3B)
