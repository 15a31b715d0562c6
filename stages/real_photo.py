"""The real-photo benchmark (``worldwarp real-photo``, benchmarks/real_photo.py, dvc stage real_photo): a rectified
stereo pair (yours, or Middlebury's Motorcycle), left view + depth in, right view out, scored against the real
right view (docs/REAL_PHOTO.md).

Runs the project's 3DGS cache, warp and configured denoiser from the left view with (1) its measured depth and
(2) with real_photo.depth_model, a depth model's depth aligned to it. Writes OUT/metrics.json and one PNG per run
in OUT/panels (real right view | prediction | holes vs true occlusions). Knobs: the real_photo, splat, diffusion,
estimator, seed and device sections.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from worldwarp.config import WorldWarpConfig

from .common import check_device, run_device


def _depth_model(cfg: WorldWarpConfig, device: str, tmp: Path):
    """The configured monocular model, else the tiny random Depth Anything stand-in; and its label."""
    from worldwarp.estimators.depth_models import MonocularDepthEstimator
    from worldwarp.estimators.standins import build_tiny_depth_anything

    e = cfg.estimator
    if e.backend in ("depth_anything", "depth_pro") and e.model_dir:
        est = MonocularDepthEstimator.from_pretrained(e.model_dir, kind=e.backend, torch_dtype=e.dtype, device=device,
                                                      fov_deg=e.fov_deg, fallback_median_depth=e.fallback_median_depth)
        return est, f"{e.backend}:{Path(e.model_dir).name}"
    path = build_tiny_depth_anything(tmp / "tiny_depth_anything", seed=cfg.seed)
    est = MonocularDepthEstimator.from_pretrained(path, kind="depth_anything", device=device,
                                                  fallback_median_depth=e.fallback_median_depth)
    return est, "stand-in: tiny random Depth Anything V2 (a plumbing check, not a model's quality)"


def panel(pair, view, cov) -> np.ndarray:
    """Real right view | prediction | holes: green = hole on a true occlusion, red = hole on a co-visible pixel,
    blue = true occlusion the warp missed."""
    holes = ~view.valid
    overlay = pair.right * 0.4
    overlay[holes & cov.occluded] = (0, 1, 0)
    overlay[holes & cov.covisible] = (1, 0, 0)
    overlay[~holes & cov.occluded] = (0, 0, 1)
    return (np.concatenate([pair.right, view.rgb, overlay], 1).clip(0, 1) * 255).astype(np.uint8)


def _pair_info(cfg: WorldWarpConfig, pair, cov, measured, device: str) -> dict:
    import torch

    rp = cfg.real_photo
    source = "Middlebury 2014 Motorcycle (scikit-image)" if rp.left is None else f"{rp.left} | {rp.right} | {rp.disparity}"
    return {"source": source, "height": pair.height, "width": pair.width, "downscale": rp.downscale,
            "frames": rp.frames, "splat_steps": rp.steps, "focal_px": pair.focal, "baseline_m": pair.baseline,
            "doffs_px": pair.doffs, "cx": pair.cx, "cy": pair.cy, "covisible_fraction": float(cov.covisible.mean()),
            "occluded_fraction": float(cov.occluded.mean()), "unknown_fraction": float(cov.unknown.mean()),
            "measured_fraction": float(np.isfinite(measured).mean()), "device": device,
            "denoiser_backend": cfg.diffusion.backend, "classical_fill": cfg.diffusion.classical_fill,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"}


def run(cfg: WorldWarpConfig, out: Path) -> dict:
    """The benchmark; returns what it wrote to OUT/metrics.json. Bad input raises RealPhotoError / ConfigError."""
    import imageio.v3 as iio
    import torch

    from worldwarp.realphoto import aligned_model_depth, covisibility, evaluate, measured_input_depth
    from worldwarp.realphoto.pair_io import load_pair

    check_device(cfg)
    torch.manual_seed(cfg.seed)
    rp, device = cfg.real_photo, str(run_device(cfg))
    pair = load_pair(rp)
    cov = covisibility(pair.disparity)
    cfg = cfg.model_copy(update={"splat": cfg.splat.model_copy(update={"steps": rp.steps})})
    measured = pair.depth()
    metrics: dict = {"pair": _pair_info(cfg, pair, cov, measured, device)}
    runs = {"measured": (measured_input_depth(pair), {"depth_source": "measured (the pair's disparity)"})}
    (out / "panels").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if rp.depth_model:
            est, label = _depth_model(cfg, device, Path(tmp))
            depth, info = aligned_model_depth(est, pair, measured, cfg)
            ok = np.isfinite(measured)
            rel = np.abs(depth[ok] - measured[ok]) / measured[ok]
            runs["model"] = (depth, {"depth_source": label, **info, "input_depth_abs_rel": float(rel.mean())})
        for name, (depth, info) in runs.items():
            t0 = time.perf_counter()
            scores, view = evaluate(pair, cov, depth, cfg, frames=rp.frames, device=device)
            metrics[name] = {**info, **scores, "seconds": time.perf_counter() - t0}
            iio.imwrite(out / "panels" / f"right_{name}.png", panel(pair, view, cov))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return metrics


def summary(m: dict) -> list[str]:
    """One line per run, for the terminal."""
    lines = []
    for name in ("measured", "model"):
        if name in m:
            r = m[name]
            lines.append(f"{name}: psnr_covisible {r['psnr_covisible']:.2f} dB, psnr_occluded {r['psnr_occluded']:.2f} dB, "
                         f"ssim_covisible {r['ssim_covisible']:.3f}, hole recall {r['hole_recall']:.3f} / precision "
                         f"{r['hole_precision']:.3f}, depth abs rel {r['depth_abs_rel']:.4f}, delta1 "
                         f"{r['depth_delta1']:.3f} ({r['seconds']:.0f} s)")
    return lines
