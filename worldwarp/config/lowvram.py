"""``lowvram``: one knob for a consumer GPU (issue 28 item 3: the full-weights pipeline within 12 GiB).

It is a layer like the inference profiles (``profiles.py``): it fills the knobs in ``FILLS`` that the user left
unset, with the same merge, and a knob the user did set wins. Two kinds of knob meet it:

- ``FILLS`` are sizes within a stage (VAE tiling, 8-bit weights of the captioner and the text encoder): a user may
  decline one (``--set lowvram=true --set prompt.quantize=none`` keeps the exact captioner, at its memory cost).
- ``REFUSED`` are the values that keep a model on the GPU beyond its stage (the text encoder kept, no offload, a
  transformer copy on a second device): with ``lowvram=true`` they are an error naming both knobs, never silently
  overridden. The fill gives ``keep_text_encoder=false`` and ``offload=model`` where they are unset.

What the mode does beyond these knobs (stages/common.py ``release``): the geometry estimator is dropped after the
geometry stage and the captioner after its caption, both reloaded when next needed, and CUDA's cached blocks are
handed back between stages. ``lowvram`` itself changes no number a run computes (the filled knobs do, and they are
part of the run's params), so it is not part of run ids or stage keys, like ``threads``.
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError

from .base import When
from .profiles import _merge_under

FILLS: dict[str, dict[str, Any]] = {
    "diffusion": {
        "offload": "model",  # transformer and VAE on the GPU only inside encode / loop / decode
        "keep_text_encoder": False,
        "vae_tiling": True,  # decode peak 10.6 -> 6.7 GiB at 480x720 (docs/BENCHMARKS.md §2)
        "text_encoder_quantize": "int8",  # umT5-XXL: 11.4 GB of bf16 weights cannot sit beside anything in 12 GiB
    },
    "prompt": {"quantize": "int8"},  # Qwen2.5-VL-7B: 16.6 GB in bf16 does not fit 12 GiB at all
}

# (knob, what lowvram needs, test on the validated config that says the knob breaks it)
REFUSED: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("diffusion.cfg_device", "=null (no second transformer copy)", lambda c: c.diffusion.cfg_device is not None),
    ("diffusion.offload", "=model or group", lambda c: c.diffusion.offload == "none"),
    ("diffusion.keep_text_encoder", "=false", lambda c: c.diffusion.keep_text_encoder),
)

# lowvram frees models between stages: without one (classical filler, ground-truth geometry) it does nothing
APPLIES = When("a model is loaded: diffusion.backend is stdiff or estimator.backend is a model",
               lambda c: c.diffusion.backend == "stdiff" or c.estimator.backend != "ground_truth",
               ("diffusion.backend", "estimator.backend"))


def _on(data: dict[str, Any]) -> bool:
    try:
        return bool(TypeAdapter(bool).validate_python(data.get("lowvram", False)))
    except ValidationError:
        return False  # the field's own validation reports the bad value


def apply_lowvram(data: Any) -> Any:
    """Fill the knobs of ``FILLS`` that ``data`` leaves unset when ``data['lowvram']`` is true."""
    if not isinstance(data, dict) or not _on(data):
        return data
    fills = FILLS
    diffusion = data.get("diffusion")
    if isinstance(diffusion, dict) and diffusion.get("cfg_device"):
        # offload=model would meet the diffusion section's own rule (cfg_device needs offload=none) first, and its
        # message would not name lowvram: leave offload alone, so the contradiction is reported as lowvram's
        fills = {**FILLS, "diffusion": {k: v for k, v in FILLS["diffusion"].items() if k != "offload"}}
    return _merge_under(fills, data)


def contradictions(cfg: Any) -> list[str]:
    """One line per knob whose value defeats lowvram (empty when lowvram is off)."""
    if not cfg.lowvram:
        return []
    out = []
    for key, needs, broken in REFUSED:
        if broken(cfg):
            section, knob = key.split(".")
            value = getattr(getattr(cfg, section), knob)
            out.append(f"lowvram=true needs {key}{needs}, but {key}={value!r} was set; drop one of the two")
    return out
