"""CPU benchmark of one 3DGS optimisation step through the PyTorch rasteriser: the analytic compositing backward
(``raster_torch._Composite``, the library's path) against autograd through the plain formula (the reference in
tests/test_splat_raster.py), on the demo's setting: procedural room, 160x256, Gaussians seeded from 5 views as
``splat`` defaults seed them, one view per step, L1 + D-SSIM loss.

Prints and saves forward / backward seconds per step (median over --reps, the two paths interleaved), the
largest gradient difference relative to the largest gradient, and the machine it ran on.

    python benchmarks/raster_cpu.py --out docs/benchmarks/raster_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402

import worldwarp.splat.raster_torch as raster_torch  # noqa: E402
from test_splat_raster import _autograd_composite  # noqa: E402
from worldwarp.config.camera import TrajectoryConfig  # noqa: E402
from worldwarp.config.splat import SplatConfig  # noqa: E402
from worldwarp.geometry.trajectory import make_trajectory  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from worldwarp.splat import Gaussians, init_from_rgbd, rasterize  # noqa: E402
from worldwarp.splat.init import init_kwargs  # noqa: E402
from worldwarp.splat.optimize import photometric_loss  # noqa: E402

PATHS = {"analytic": raster_torch._composite_group, "autograd": _autograd_composite}


def demo_setup(height: int, width: int) -> tuple[SplatConfig, object, torch.Tensor, Gaussians]:
    """The demo's 3DGS setting: the procedural room along a forward path, Gaussians seeded from 5 exact views."""
    cfg = SplatConfig()
    scene = make_scene("room")
    cams = make_trajectory(TrajectoryConfig(preset="forward", distance=1.0), 6, width, height, scene.start_pose())
    rgb, depth = scene.render(cams)
    return cfg, cams, rgb, init_from_rgbd(rgb[:5], depth[:5], cams.K[:5], cams.w2c[:5], seed=0, **init_kwargs(cfg))


def step(g: dict, cams, rgb, view: int, cfg: SplatConfig) -> tuple[float, float]:
    t0 = time.perf_counter()
    out = rasterize(Gaussians(**g), cams.K[view : view + 1], cams.w2c[view : view + 1], cams.width, cams.height,
                    backend="torch", with_depth=False)
    loss = photometric_loss(out.rgb, rgb[view : view + 1], cfg.lambda_dssim)
    t1 = time.perf_counter()
    loss.backward()
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    cfg, cams, rgb, g0 = demo_setup(a.height, a.width)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in PATHS}
    grads: dict[str, dict[str, torch.Tensor]] = {}
    for rep in range(a.reps + 1):  # the first round warms up and is not counted
        for name, fn in PATHS.items():
            raster_torch._composite_group = fn
            g = {k: v.clone().requires_grad_(True) for k, v in g0.tensors().items()}
            t = step(g, cams, rgb, rep % 5, cfg)
            if rep:
                times[name].append(t)
            if rep == 1:
                grads[name] = {k: v.grad for k, v in g.items()}
    raster_torch._composite_group = PATHS["analytic"]
    rel = {k: float((grads["analytic"][k] - grads["autograd"][k]).abs().max() / grads["autograd"][k].abs().max())
           for k in grads["autograd"]}
    rec = {
        "date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "size": [a.height, a.width], "gaussians": len(g0.means), "reps": a.reps,
        "median_s": {k: {"forward": statistics.median(f for f, _ in v), "backward": statistics.median(b for _, b in v)}
                     for k, v in times.items()},
        "grad_max_rel_diff": rel,
    }
    m = rec["median_s"]
    for k, v in m.items():
        print(f"{k:9s} forward {v['forward']:.3f} s  backward {v['backward']:.3f} s  step {sum(v.values()):.3f} s")
    speed = sum(m["autograd"].values()) / sum(m["analytic"].values())
    print(f"{rec['gaussians']} Gaussians at {a.height}x{a.width}; analytic step {speed:.2f}x faster; "
          f"max relative gradient difference {max(rel.values()):.1e}; {rec['cpus']} CPUs, {rec['threads']} threads, "
          f"torch {rec['torch']}, {rec['date']}")
    if a.out:
        a.out.write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
