"""CPU benchmark behind the ``threads`` knob's default: one 3DGS optimisation step (torch rasteriser, forward +
L1/D-SSIM loss + backward) at the demo's setting (procedural room, 160x256, Gaussians seeded from 5 views as
``splat`` defaults seed them, one view per step) with each thread count, interleaved, median over --reps.

    python benchmarks/threads_cpu.py --threads 1 2 --out docs/benchmarks/threads_cpu.json
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
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]

import torch  # noqa: E402

from raster_cpu import demo_setup, step as raster_step  # noqa: E402  (the same step, the same setting)


def step(g0, cams, rgb, view: int, cfg) -> float:
    """One optimisation step, forward + loss + backward, in seconds."""
    g = {k: v.clone().requires_grad_(True) for k, v in g0.tensors().items()}
    return sum(raster_step(g, cams, rgb, view, cfg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    cfg, cams, rgb, g0 = demo_setup(a.height, a.width)
    times: dict[int, list[float]] = {n: [] for n in a.threads}
    for rep in range(a.reps + 1):  # the first round warms up and is not counted
        for n in a.threads:
            torch.set_num_threads(n)
            t = step(g0, cams, rgb, rep % 5, cfg)
            if rep:
                times[n].append(t)
    rec = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "torch": torch.__version__,
           "size": [a.height, a.width], "gaussians": len(g0.means), "reps": a.reps,
           "step_s": {str(n): {"median": statistics.median(v), "min": min(v), "max": max(v)} for n, v in times.items()}}
    for n, v in rec["step_s"].items():
        print(f"{n} thread(s): step median {v['median']:.3f} s (min {v['min']:.3f}, max {v['max']:.3f})")
    print(f"{rec['gaussians']} Gaussians at {a.height}x{a.width}; {rec['cpus']} CPUs, load {rec['load_avg_1min']:.1f}, "
          f"torch {rec['torch']}, {rec['date']}")
    if a.out:
        a.out.write_text(json.dumps(rec, indent=1) + "\n")


if __name__ == "__main__":
    main()
