"""Stage 1 for one chunk: geometry of the history frames in the trajectory's world and scale.

Inputs are the history frames, their commanded cameras, and the 3DGS cache rendered at those cameras
(depth + alpha/mask). The estimator's depth is aligned, frame by frame, to the rendered depth on pixels
the cache covers (mask >= ``min_confidence``); poses are the commanded ones, or (``pose="pnp"``) solved by
PnP against the rendered depth of the best-covered frame and then Sim(3)-aligned to the commanded poses.
PnP poses live in the cache's world already (their 3D points come from its depth), so the Sim(3) removes
only a global disagreement with the command and its scale should be ~1; with a few history frames and short
baselines that scale is poorly observed, hence ``pnp_align``: "sim3" (default, as the design says), "rigid"
(s = 1) or "none" (keep the PnP poses; the Sim(3) residuals are still reported). The depth, aligned to the
rendered depth, is already in the trajectory's scale and is not rescaled.
With the ground-truth backend the rendered depth is returned as is (with commanded poses unless pnp).
"""

from __future__ import annotations

import math

import torch

from ..config.estimator import EstimatorConfig
from .align import AlignmentError, align_depth, align_poses
from .pnp import PnPSettings, estimate_poses_pnp
from .ttt3r_history import ttt3r_history
from .types import GeometryEstimate, check_frames

AGREEMENT_TAU = 0.1  # relative depth error at which confidence falls to 1/e


def make_estimator(cfg: EstimatorConfig, device: str | torch.device = "cpu"):
    """The configured depth model (loaded once; reuse it across chunks), or None for ground truth."""
    if cfg.backend == "ground_truth":
        return None
    if cfg.backend == "ttt3r":
        from .ttt3r import Ttt3rEstimator

        return Ttt3rEstimator.from_pretrained(cfg.model_dir, torch_dtype=cfg.dtype, device=device, size=cfg.ttt3r_size,
                                              update=cfg.ttt3r_update, batch_size=cfg.batch_size)
    from .depth_models import MonocularDepthEstimator

    return MonocularDepthEstimator.from_pretrained(
        cfg.model_dir, kind=cfg.backend, torch_dtype=cfg.dtype, device=device, fov_deg=cfg.fov_deg,
        fallback_median_depth=cfg.fallback_median_depth, batch_size=cfg.batch_size)


def _valid(rendered_depth: torch.Tensor, rendered_mask: torch.Tensor, cfg: EstimatorConfig) -> torch.Tensor:
    return (rendered_mask.float() >= cfg.min_confidence) & torch.isfinite(rendered_depth) & (rendered_depth > 0)


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


def _model_depth(estimator, frames, cmd_K, rendered_depth, valid, cfg) -> tuple[torch.Tensor, torch.Tensor, dict]:
    pred = estimator.predict(frames, K=cmd_K)
    mode = cfg.align if cfg.align != "auto" else ("scale" if pred.metric else "scale_shift")
    space = cfg.align_space if cfg.align_space != "auto" else pred.space
    fallback = estimator.to_depth(pred)
    depth, conf = fallback.clone(), torch.full_like(fallback, cfg.hole_confidence)
    scales, shifts, res, failed = [], [], [], 0
    for v in range(len(frames)):
        if int(valid[v].sum()) < cfg.min_valid_pixels:
            continue  # too little of the cache is visible: keep the model's own (or normalised) depth
        values = pred.values[v] if space == pred.space else (1.0 / fallback[v] if space == "inverse" else fallback[v])
        try:
            a = align_depth(values, rendered_depth[v], valid[v], mode=mode, space=space)
        except AlignmentError:  # e.g. anti-correlated with the cache: keep the model's own depth, count it
            failed += 1
            continue
        depth[v] = a.aligned.to(depth)
        rel = ((a.aligned - rendered_depth[v]).abs() / rendered_depth[v].clamp_min(1e-6))[valid[v]]
        conf[v][valid[v]] = torch.exp(-rel / AGREEMENT_TAU).to(conf)
        scales.append(a.scale), shifts.append(a.shift), res.append(a.residual)
    info = {"depth_scale": _mean(scales), "depth_shift": _mean(shifts), "depth_residual": _mean(res),
            "depth_frames_aligned": float(len(scales)), "depth_frames_failed": float(failed), "depth_metric": float(pred.metric)}
    return depth, conf, info


def _pnp_poses(frames, cmd_K, cmd_w2c, rendered_depth, valid, cfg) -> tuple[torch.Tensor, torch.Tensor, dict]:
    ref = int(torch.argmax(valid.flatten(1).sum(1)))
    s = PnPSettings(features=cfg.features, reprojection_px=cfg.pnp_reprojection_px, min_inliers=cfg.pnp_min_inliers)
    r = estimate_poses_pnp(frames, cmd_K, frames[ref], rendered_depth[ref], cmd_K[ref], cmd_w2c[ref],
                           ref_valid=valid[ref], init_w2c=cmd_w2c, settings=s)
    w2c, conf = r.w2c.clone(), r.confidence.clone()
    w2c[ref], conf[ref] = cmd_w2c[ref].float(), 1.0  # the reference's depth was rendered at its commanded pose
    al = align_poses(w2c, cmd_w2c, with_scale=cfg.pnp_align == "sim3")
    info = {"pose_rotation_deg": al.rotation_err_deg, "pose_translation": al.translation_err,
            "pose_scale": al.sim3.s, "pose_frames_solved": float(sum(r.solved)), "pose_reference": float(ref),
            "pose_inliers_mean": _mean([float(n) for n in r.inliers])}
    return (w2c if cfg.pnp_align == "none" else al.aligned_w2c), conf, info


def estimate_history_geometry(frames: torch.Tensor, cmd_K: torch.Tensor, cmd_w2c: torch.Tensor,
                              rendered_depth: torch.Tensor, rendered_mask: torch.Tensor, cfg: EstimatorConfig,
                              *, estimator=None) -> GeometryEstimate:
    """frames (V, H, W, 3); cmd_K (V, 3, 3); cmd_w2c (V, 4, 4); rendered_depth / rendered_mask (V, H, W).
    ``estimator``: a loaded depth model to reuse (default: loaded from ``cfg``). Residuals (NaN when not
    applicable): depth_scale, depth_shift, depth_residual (RMS relative error), pose_rotation_deg,
    pose_translation (worst frame after Sim(3), trajectory units), pose_scale."""
    frames = check_frames(frames)
    cmd_K, cmd_w2c = torch.as_tensor(cmd_K).float(), torch.as_tensor(cmd_w2c).float()
    valid = _valid(rendered_depth, rendered_mask, cfg)
    residuals = {"depth_scale": 1.0, "depth_shift": 0.0, "depth_residual": 0.0}
    if cfg.backend == "ttt3r":
        estimator = estimator or make_estimator(cfg)
        depth, w2c, conf, info = ttt3r_history(estimator.run(frames), cmd_w2c, rendered_depth, valid, cfg.ttt3r_align)
        residuals.update(info)
        return GeometryEstimate(depth.to(frames.device), cmd_K.clone(), w2c, conf.to(frames.device), residuals,
                                torch.ones(len(frames)))
    if cfg.backend == "ground_truth":
        depth, conf = rendered_depth, torch.where(valid, rendered_mask.float().clamp(0, 1), torch.zeros_like(rendered_depth))
    else:
        estimator = estimator or make_estimator(cfg)
        depth, conf, info = _model_depth(estimator, frames, cmd_K, rendered_depth, valid, cfg)
        residuals.update(info)
    if cfg.pose == "pnp":
        w2c, pose_conf, info = _pnp_poses(frames, cmd_K, cmd_w2c, rendered_depth, valid, cfg)
        residuals.update(info)
    else:
        w2c, pose_conf = cmd_w2c.clone(), torch.ones(len(frames))
        residuals.update(pose_rotation_deg=0.0, pose_translation=0.0, pose_scale=1.0)
    return GeometryEstimate(depth, cmd_K.clone(), w2c, conf, residuals, pose_conf)
