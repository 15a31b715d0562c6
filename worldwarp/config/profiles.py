"""Inference profiles: named layers of knob values under whatever params.yaml, --set or flow parameters say.

``profile: official`` is the authors' inference knob for knob (their public code, commit 0396b80: sampler, shift,
strength, CFG, negative prompt, validity mask, 3DGS recipe). ``profile: longshot`` is this project's own variant
(the section defaults). A profile only fills knobs the user did not set, so ``--set profile=official
--set diffusion.steps=20`` is the official recipe with 20 steps. The resolved values of every knob are what a run
stores and keys its stages on, so two runs that end with the same knobs share their cache whatever the profile.
"""

from __future__ import annotations

import copy
import math
from typing import Any

# The authors' fixed negative prompt (their CONFIG.prompts.negative), a fact of their inference.
OFFICIAL_NEGATIVE_PROMPT = (
    "Person, people, pet, animals. Bright tones, static camera, overexposed, static, blurred details, subtitles, "
    "style, works, paintings, images, static, overall gray, worst quality, low quality, JPEG compression residue, "
    "ugly, incomplete, extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen "
    "limbs, fused fingers, still picture, messy background, three legs, many people in the background, walking "
    "backwards, unrealistic."
)

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "longshot": {},
    "official": {
        # their controlled-camera intrinsics: focal = 1.2 x width (CameraPoseController), i.e. 45.24 deg
        "trajectory": {"fov_deg": math.degrees(2 * math.atan(0.5 / 1.2))},
        # with estimator.backend=ttt3r: their poses relative to the last history frame, no scale fit
        "estimator": {"ttt3r_align": "authors"},
        "diffusion": {
            "sampler": "official",
            "shift": 5.0,
            "steps": 50,
            "guidance_scale": 5.0,
            "strength": 0.8,
            "negative_prompt": OFFICIAL_NEGATIVE_PROMPT,
        },
        # the paper's cache: rebuilt from the newest frames each chunk
        "memory": {"mode": "fresh"},
        # their GS3DWarper as pose_control.py calls it: init, Adam, loss and the validity mask (docs/BENCHMARKS.md)
        "splat": {
            "max_points_per_frame": 50_000,
            "max_points": 1_000_000,
            "min_depth": 0.8,  # pose_control passes conf_threshold=0.8; it filters depth, in TTT3R's units
            "dedup": False,
            "init_scale": "knn",
            "pixel_offset": 0.0,  # they unproject pixel (x, y) at (x, y), not at its centre
            "sh_degree": 3,
            "init_opacity": 0.9999,
            "lambda_depth": 0.01,
            "lr_means": 1.6e-3,
            "lr_means_scale": "none",  # scene_scale = 1.0
            "mask": "official",
            "mask_erosion": 15,
        },
    },
}
PROFILE_NAMES = tuple(PROFILES)
DEFAULT_PROFILE = "longshot"


def _merge_under(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` wins; nested sections merge key by key."""
    out = copy.deepcopy(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_under(out[k], v)
        else:
            out[k] = v
    return out


def apply_profile(data: Any) -> Any:
    """Fill the knobs ``data`` leaves unset from its profile (``data['profile']`` or the default)."""
    if not isinstance(data, dict):
        return data
    name = data.get("profile", DEFAULT_PROFILE)
    if name not in PROFILES:
        return data  # the field's own validation names the valid profiles
    return _merge_under(PROFILES[name], data)
