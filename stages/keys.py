"""Content keys of every stage, derived from the config and the input digest alone.

A key hashes its upstream keys, the knobs the stage reads and its code version, so a knob change
re-keys exactly the stages downstream of it. Keys need no store access, so an orchestrator can
compute them before anything runs.
"""

from __future__ import annotations

from typing import Any

import worldwarp
from worldwarp.config import WorldWarpConfig
from worldwarp.config.stored import stable_dump
from worldwarp.store import content_key

# Bump a stage's version when its code changes what it writes.
STAGE_VERSIONS = {"geometry": 2, "gaussians": 1, "warp": 1, "denoise": 2, "handoff": 1}


def code_version(stage: str) -> str:
    return f"worldwarp-{worldwarp.__version__}/{stage}-v{STAGE_VERSIONS[stage]}"


def stage_params(cfg: WorldWarpConfig, stage: str, k: int) -> dict[str, Any]:
    """The knobs a stage reads (and nothing else, so unrelated knobs never invalidate it)."""
    s = cfg.splat.model_dump(mode="json")
    render_knobs = {"alpha_threshold", "depth_tolerance"}
    mask_knobs = {"mask", "mask_threshold", "geo_depth_tolerance", "geo_min_views", "mask_erosion", "pixel_offset"}
    if stage == "geometry":
        return {"chunk": k, "scene": cfg.scene.model_dump(mode="json"), "history": cfg.chunk.history,
                "render": {n: s[n] for n in render_knobs}, "estimator": cfg.estimator.model_dump(mode="json")}
    if stage == "gaussians":
        fit = {n: v for n, v in s.items() if n not in render_knobs | mask_knobs or n == "pixel_offset"}
        if cfg.memory.mode == "world":
            return {"chunk": k, "splat": fit, "seed": cfg.seed, "memory": stable_dump("memory", cfg.memory.model_dump(mode="json"))}
        # fresh/append keep the key they had as splat.fresh, so stores made before memory.mode stay valid
        return {"chunk": k, "splat": {**fit, "fresh": cfg.memory.mode == "fresh"}, "seed": cfg.seed}
    if stage == "warp":
        return {"chunk": k, "frames": cfg.chunk.frames, "history": cfg.chunk.history,
                "backend": s["backend"], "render": {n: s[n] for n in sorted(render_knobs | mask_knobs)}}
    if stage == "denoise":
        # the prompt knobs (not where captions are cached: that never changes a caption)
        return {"chunk": k, "diffusion": stable_dump("diffusion", cfg.diffusion.model_dump(mode="json")), "seed": cfg.seed,
                "prompt": stable_dump("prompt", cfg.prompt.model_dump(mode="json", exclude={"cache_dir"}))}
    if stage == "handoff":
        return {"chunk": k, "history": cfg.chunk.history}
    raise KeyError(stage)


def upstream(stage: str, k: int, cfg: WorldWarpConfig) -> list[tuple[int, str]]:
    if stage == "geometry":
        return [] if k == 0 else [(k - 1, "handoff"), (k - 1, "gaussians")]
    if stage == "gaussians":
        # world reads earlier chunks' groups too, all upstream of (k, geometry) already
        prev = [(k - 1, "gaussians")] if (k > 0 and cfg.memory.mode == "append") else []
        return [(k, "geometry")] + prev
    return {"warp": [(k, "gaussians")], "denoise": [(k, "warp")], "handoff": [(k, "denoise")]}[stage]


def all_keys(cfg: WorldWarpConfig, input_digest: str) -> dict[tuple[int, str], str]:
    from . import STAGES

    keys: dict[tuple[int, str], str] = {}
    for k in range(cfg.chunk.count):
        for stage in STAGES:
            inputs = [keys[u] for u in upstream(stage, k, cfg)] or [input_digest]
            params = stage_params(cfg, stage, k)
            if cfg.deterministic:  # other kernels on CUDA, other numbers; off, the keys stay as they were
                params = {**params, "deterministic": True}
            keys[(k, stage)] = content_key(stage, inputs, params, code_version(stage))
    return keys
