"""Stage 1, pose estimate: depth, K, poses and confidence of chunk k's history frames.

Chunk 0: the input image at the first camera, with the scene's exact depth; for a photo
(``scene.depth_estimator``), the configured depth model's depth (metric for Depth Pro, relative for Depth
Anything scaled to ``fallback_median_depth``) or the constant-depth plane of ``scene.constant_depth``.
Chunk k >= 1: the history frames handed over by chunk k-1. Chunk k-1's cache is rendered at their
commanded poses; ``worldwarp.estimators.estimate_history_geometry`` turns that into depth (the render
itself for ``ground_truth``, holes filled toward the background; a depth model aligned to the render
otherwise) and poses (commanded, or PnP + Sim(3)). Its residuals go into the stage's attrs (``residual_*``)
and from there into the chunk's MLflow run, where drift shows over the chunks.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from worldwarp.checks.errors import UserError
from worldwarp.config import WorldWarpConfig
from worldwarp.geometry.cameras import Cameras
from worldwarp.geometry.depth_fill import fill_depth_holes
from worldwarp.splat import render
from worldwarp.store import ArrayLink

from .common import once, release, resolve_device, span, to_np
from .gaussians import load_gaussians

GROUP = "geometry"


@functools.lru_cache(maxsize=1)
def _depth_model(estimator_json: str, device: str):
    """The configured depth model, loaded once per process and reused by every chunk."""
    from worldwarp.config.estimator import EstimatorConfig
    from worldwarp.estimators import make_estimator

    return make_estimator(EstimatorConfig.model_validate_json(estimator_json), device)


def depth_model(cfg: WorldWarpConfig):
    """None for the ground-truth backend."""
    if cfg.estimator.backend == "ground_truth":
        return None
    return _depth_model(cfg.estimator.model_dump_json(), str(resolve_device(cfg)))


def _finite(residuals: dict[str, float]) -> dict[str, float | None]:
    # attrs are JSON: NaN ("not applicable") becomes null
    return {f"residual_{n}": (float(v) if math.isfinite(v) else None) for n, v in residuals.items()}


def _first(store, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    inp = store.read_input()
    image, depth = np.asarray(inp["image"])[None], np.asarray(inp["depth"])[None]
    K, attrs = np.asarray(inp["K"][:1]), {"source": "input"}
    if cfg.scene.input_depth(cfg.estimator.backend) == "model":
        model = depth_model(cfg)
        frames = torch.from_numpy(image).to(model.device)
        pred = model.predict(frames, K=torch.from_numpy(K))
        depth = to_np(model.to_depth(pred)).astype(np.float32)
        attrs = {"source": f"input+{cfg.estimator.backend}", "depth_metric": bool(pred.metric),
                 "depth_median": float(np.median(depth))}
    return ({"rgb": image, "depth": depth, "K": K, "w2c": np.asarray(inp["w2c"][:1]),
             "confidence": np.ones_like(depth)}, attrs)


def _from_cache(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    from worldwarp.estimators import estimate_history_geometry

    hand = store.read_stage(k - 1, "handoff")
    device = resolve_device(cfg)
    g = load_gaussians(store, k - 1).to(device)
    h, w = hand["rgb"].shape[1:3]
    cams = Cameras(torch.from_numpy(hand["K"]), torch.from_numpy(hand["w2c"]), w, h).to(device)
    out = render(g, cams, backend=cfg.splat.backend, alpha_threshold=cfg.splat.alpha_threshold,
                 depth_tolerance=cfg.splat.depth_tolerance)
    mask = to_np(out.mask)
    _check_seen(mask, k, cfg)
    est = estimate_history_geometry(torch.from_numpy(np.asarray(hand["rgb"])).to(device), cams.K, cams.w2c,
                                    out.depth, out.mask, cfg.estimator, estimator=depth_model(cfg))
    if cfg.estimator.backend == "ground_truth":
        depth = np.stack([fill_depth_holes(d, m) for d, m in zip(to_np(out.depth), mask)])
        confidence = mask.astype(np.float32)
    else:  # the model's depth, aligned to the cache, covers the holes too
        depth, confidence = to_np(est.depth), to_np(est.confidence)
    # the history frames are the handoff's (themselves chunk k-1's frames): linked, stored once
    rgb = ArrayLink(k - 1, "handoff", "rgb", 0, len(hand["rgb"]))
    return ({"rgb": rgb, "depth": depth.astype(np.float32), "K": hand["K"],
             "w2c": to_np(est.w2c).astype(np.float32), "confidence": confidence.astype(np.float32)},
            {"source": f"cache-render+{cfg.estimator.backend}", "pose": _pose_source(cfg),
             "hole_fraction": float(1 - mask.mean()), **_finite(est.residuals)})


def _check_seen(mask: np.ndarray, k: int, cfg: WorldWarpConfig) -> None:
    """The ground-truth estimator takes a history frame's depth from the previous cache's render: a frame that
    cache sees nothing of (the camera turned or moved past it within one chunk) has no depth to take."""
    if cfg.estimator.backend != "ground_truth":
        return
    blind = [i for i, m in enumerate(mask) if not m.any()]
    if blind:
        first = span(cfg, k - 1).stop - len(mask) + blind[0]
        raise UserError(f"chunk {k}: chunk {k - 1}'s cache sees nothing of history frame {blind[0]} (video frame "
                        f"{first}): the camera turned or moved past everything that cache holds within one chunk, "
                        "and estimator.backend=ground_truth takes history depth from its render; slow the path down "
                        "(more frames, less angle or distance per chunk) or use a depth estimator (estimator.backend)")


def _pose_source(cfg: WorldWarpConfig) -> str:
    e = cfg.estimator
    return f"ttt3r+{e.ttt3r_align}" if e.backend == "ttt3r" else e.pose


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    ref = once(store, k, GROUP, key, lambda: _first(store, cfg) if k == 0 else _from_cache(store, k, cfg))
    if cfg.lowvram:  # the estimator's stage is over: free it for the stages after it (reloaded next chunk)
        release(_depth_model)
    return ref
