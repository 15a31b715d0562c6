"""What each stage array is kept at on disk, in one table, and the exact encode / decode of each choice.

A stage's arrays are encoded when the stage is written and decoded when any reader reads them. Stages pass
nothing to each other in memory (each reads its inputs back from the store), so every consumer (the next
stage, a resumed run, an export) sees the same, already-quantised values: the uninterrupted run and a resumed
one compute on identical numbers, and resume stays bit-identical.

| encoding | on disk | read back as | error | used for |
|---|---|---|---|---|
| ``unit8`` | uint8 = floor(clip(x, 0, 1) * 255 + 0.5) | float32 q / 255 | <= 1/510 | colour frames in [0, 1]: they become 8-bit video anyway |
| ``f16`` | float16; finite values clamped to +-65504, inf / NaN kept | float32 | <= 2^-11 relative | depths, latents, Gaussians' non-position fields |

Sizes and the reasons per array: docs/STORE.md, "Precision" (measured by benchmarks/store_size.py).
Everything not in the table is stored as given: cameras, confidences, masks (already uint8) and the
Gaussians' positions, which are world coordinates: float16's relative step is fine near the origin, but 50 m
down a long trajectory it is 2.4 cm, several pixels for a surface 2 m from the camera. Stores written before
this table (float32 everywhere) read as they were: an array without a ``precision`` attribute is returned as
stored.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

F16_MAX = float(np.finfo(np.float16).max)

# (stage group, array) -> encoding
PRECISION: dict[tuple[str, str], str] = {
    # history frames: chunk k > 0's are the handoff's uint8 frames already; chunk 0's is the input image
    ("geometry", "rgb"): "unit8",
    # camera-relative: at 3 m within 1 mm, where a pixel is ~5 mm wide at 480x720; feeds the 3DGS init and
    # the official mask's depth check
    ("geometry", "depth"): "f16",
    ("gaussians", "quats"): "f16",
    ("gaussians", "scales"): "f16",  # log scales: within 0.2 % in scale
    ("gaussians", "opacities"): "f16",  # logits: opacity within 3e-4
    ("gaussians", "sh"): "f16",  # colour error < 1e-3, under an 8-bit step
    ("warp", "rgb"): "unit8",  # the denoiser's input (stores made before the render group)
    ("render", "rgb"): "unit8",  # the denoiser's input
    ("warp", "depth"): "f16",  # inspection only (stores made before the render group)
    ("warp", "alpha"): "unit8",  # inspection only (stores made before the render group)
    ("render", "depth"): "f16",  # inspection only
    ("render", "alpha"): "unit8",  # inspection only
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
        x = a.astype(np.float32, copy=False)
        # a finite value never overflows to inf; an inf or NaN (a miss, "no depth") keeps its meaning
        return np.where(np.isfinite(x), np.clip(x, -F16_MAX, F16_MAX), x).astype(np.float16)
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
