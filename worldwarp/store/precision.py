"""What each stage array is kept at on disk, in one table, and the exact encode / decode of each choice.

A stage's arrays are encoded when the stage is written and decoded when any reader reads them, so every
consumer (the next stage, a resumed run, an export) sees the same, already-quantised values: the uninterrupted
run and a resumed one compute on identical numbers, and resume stays bit-identical.

| encoding | on disk | read back as | error | used for |
|---|---|---|---|---|
| ``unit8`` | uint8 = floor(clip(x, 0, 1) * 255 + 0.5) | float32 q / 255 | <= 1/510 | colour frames in [0, 1] that become 8-bit video anyway; the warp's alpha (inspection only) |
| ``f16`` | float16, clamped to +-65504 | float32 | 2^-11 relative | the warp's depth (inspection only), latents: ~3 significant digits |

Everything not in the table is stored as given (float32 cameras, Gaussians, masks already uint8/bool). Stores
written before this table (float32 everywhere) read as they were: an array without a ``precision`` attribute is
returned as stored.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

F16_MAX = float(np.finfo(np.float16).max)

# (stage group, array) -> encoding. Geometry and Gaussians stay float32: they build the next 3DGS cache.
PRECISION: dict[tuple[str, str], str] = {
    ("warp", "rgb"): "unit8",
    ("warp", "depth"): "f16",
    ("warp", "alpha"): "unit8",
    ("frames", "rgb"): "unit8",
    ("handoff", "rgb"): "unit8",
    ("latents", "z_warp"): "f16",
    ("latents", "z_out"): "f16",
}
ENCODINGS = ("unit8", "f16")


def encode(a: np.ndarray, how: str) -> np.ndarray:
    a = np.asarray(a)
    if how == "unit8":
        # fmax/fmin send NaN to 0 and clip in one pass each; the cast truncates, i.e. floors these non-negative
        # values (np.floor + nan_to_num took 25x longer on a 49-frame 480x720 chunk)
        y = np.fmax(a.astype(np.float32, copy=False), np.float32(0))
        np.fmin(y, np.float32(1), out=y)
        y *= np.float32(255)
        y += np.float32(0.5)
        return y.astype(np.uint8)
    if how == "f16":
        return np.clip(a.astype(np.float32, copy=False), -F16_MAX, F16_MAX).astype(np.float16)
    raise ValueError(f"unknown precision {how!r}")


def decode(a: np.ndarray, how: str | None) -> np.ndarray:
    if how is None:
        return a
    if how == "unit8":
        return a.astype(np.float32) / np.float32(255)
    if how == "f16":
        return a.astype(np.float32)
    raise ValueError(f"unknown precision {how!r}")


def encode_stage(stage: str, arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(encoded arrays, array -> encoding) for a stage's float arrays listed in PRECISION."""
    out, used = {}, {}
    for name, a in arrays.items():
        how = PRECISION.get((stage, name))
        if how is not None and np.asarray(a).dtype.kind == "f":
            out[name], used[name] = encode(a, how), how
        else:
            out[name] = a
    return out, used
