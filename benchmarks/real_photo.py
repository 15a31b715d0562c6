"""Real-photo benchmark: Middlebury 2014 "Motorcycle" (scikit-image's copy), left view + depth in, right view out.

    python benchmarks/real_photo.py [--params params.yaml] [--set real_photo.steps=20 ...] [--out artifacts/real_photo]

Runs the project's 3DGS cache, warp and configured denoiser (docs/REAL_PHOTO.md) from the left view with
(1) its measured depth and (2) a depth model's depth aligned to it (real_photo.depth_model), and scores the
right view against the real one. Writes OUT/metrics.json and one PNG per run in OUT/panels (real right view | prediction |
holes vs true occlusions). Knobs: the real_photo, splat, diffusion, estimator, seed and device sections.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from worldwarp.config import ConfigError, WorldWarpConfig, load_params


def _device(cfg: WorldWarpConfig) -> str:
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda was asked for but no CUDA device is available here (use device=auto or cpu)")
    return "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else cfg.device)


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


def _panel(pair, view, cov) -> np.ndarray:
    """Real right view | prediction | holes: green = hole on a true occlusion, red = hole on a co-visible pixel,
    blue = true occlusion the warp missed."""
    holes = ~view.valid
    overlay = pair.right * 0.4
    overlay[holes & cov.occluded] = (0, 1, 0)
    overlay[holes & cov.covisible] = (1, 0, 0)
    overlay[~holes & cov.occluded] = (0, 0, 1)
    return (np.concatenate([pair.right, view.rgb, overlay], 1).clip(0, 1) * 255).astype(np.uint8)


def run(cfg: WorldWarpConfig, out: Path) -> dict:
    import imageio.v3 as iio
    import torch

    from worldwarp.realphoto import aligned_model_depth, covisibility, evaluate, load_motorcycle, measured_input_depth

    torch.manual_seed(cfg.seed)
    rp, device = cfg.real_photo, _device(cfg)
    pair = load_motorcycle(rp.downscale)
    cov = covisibility(pair.disparity)
    cfg = cfg.model_copy(update={"splat": cfg.splat.model_copy(update={"steps": rp.steps})})
    measured = pair.depth()
    metrics: dict = {"pair": {
        "height": pair.height, "width": pair.width, "downscale": rp.downscale, "frames": rp.frames,
        "splat_steps": rp.steps, "covisible_fraction": float(cov.covisible.mean()),
        "occluded_fraction": float(cov.occluded.mean()), "unknown_fraction": float(cov.unknown.mean()),
        "measured_fraction": float(np.isfinite(measured).mean()), "device": device,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"}}
    runs = {"measured": (measured_input_depth(pair), {"depth_source": "measured (Middlebury disparity)"})}
    out.mkdir(parents=True, exist_ok=True)
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
            (out / "panels").mkdir(exist_ok=True)
            iio.imwrite(out / "panels" / f"right_{name}.png", _panel(pair, view, cov))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=None, help="params.yaml (default: built-in defaults)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. real_photo.steps=20")
    ap.add_argument("--out", type=Path, default=Path("artifacts/real_photo"))
    args = ap.parse_args(argv)
    try:
        cfg = load_params(args.params, args.set)
        m = run(cfg, args.out)
    except (ConfigError, OSError, ValueError) as e:  # user-caused: one line, no traceback
        print(f"error: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}", file=sys.stderr)
        return 2
    for name in ("measured", "model"):
        if name in m:
            r = m[name]
            print(f"{name}: psnr_covisible {r['psnr_covisible']:.2f} dB, ssim_covisible {r['ssim_covisible']:.3f}, "
                  f"hole recall {r['hole_recall']:.3f} / precision {r['hole_precision']:.3f}, depth abs rel "
                  f"{r['depth_abs_rel']:.4f}, delta1 {r['depth_delta1']:.3f} ({r['seconds']:.0f} s)")
    print(f"metrics: {args.out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
