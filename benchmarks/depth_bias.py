"""How far a 3DGS cache's rendered depth sits from the surface it was seeded on (issue 26's decay analysis).

Each chunk of a weightless run seeds its cache from the history frames' depth, which is the previous cache's
rendered (alpha-normalised expected) depth. Seeds are isotropic splats of one pixel's footprint, so at every pixel
the neighbours' splats composite too, and on a slanted surface the nearer ones come first: the expected depth sits
in front of the surface. This measures that bias on the procedural room, seeded from its exact depth at the first
camera of the forward path: rendered as seeded (no fit) with the splat scale times each ``--scales`` factor, and
after ``--steps`` fit steps with each ``--lambda-depth``, at the seed view and ``--ahead`` frames on (PSNR there too).

    OMP_NUM_THREADS=1 python benchmarks/depth_bias.py --sizes 64x96 160x256 --out docs/benchmarks/depth_bias.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import torch  # noqa: E402

from stages.inputs import start_pose  # noqa: E402
from worldwarp.config import load_params  # noqa: E402
from worldwarp.config.camera import TrajectoryConfig  # noqa: E402
from worldwarp.geometry.trajectory import make_trajectory  # noqa: E402
from worldwarp.metrics.image import psnr  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from worldwarp.splat import build_cache, init_from_rgbd, render  # noqa: E402
from worldwarp.splat.init import init_kwargs  # noqa: E402


def error(g, cams, j: int, rgb, depth) -> dict:
    o = render(g, cams[j:j + 1], backend="torch")
    m = o.mask[0]
    rel = ((o.depth[0] - depth[j]) / depth[j])[m]
    return {"frame": j, "signed_median": float(rel.median()), "abs_median": float(rel.abs().median()),
            "valid": float(m.float().mean()), "psnr": float(psnr(o.rgb, rgb[j:j + 1]))}


def measure(h: int, w: int, a) -> dict:
    cfg = load_params(None, [f"resolution.height={h}", f"resolution.width={w}", "trajectory.fov_deg=60.0",
                             "scene.name=room", "device=cpu"])
    cams = make_trajectory(TrajectoryConfig(preset="forward", distance=1.0, fov_deg=60.0), 51, w, h, start_pose(cfg))
    rgb, depth = make_scene("room").render(cams)[:2]
    seeded = init_from_rgbd(rgb[:1], depth[:1], cams.K[:1], cams.w2c[:1], **init_kwargs(cfg.splat))
    out = {"size": [h, w], "as_seeded": [], "fitted": []}
    for f in a.scales:
        g = dataclasses.replace(seeded, scales=seeded.scales + math.log(f))
        out["as_seeded"].append({"scale_factor": f, "views": [error(g, cams, j, rgb, depth) for j in (0, a.ahead)]})
    for lam in a.lambda_depth:
        g, _ = build_cache(rgb[:1], depth[:1], cams.K[:1], cams.w2c[:1],
                           cfg.splat.model_copy(update={"steps": a.steps, "lambda_depth": lam}), backend="torch")
        out["fitted"].append({"lambda_depth": lam, "steps": a.steps,
                              "views": [error(g, cams, j, rgb, depth) for j in (0, a.ahead)]})
        print(json.dumps(out["fitted"][-1]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["64x96", "160x256"])
    ap.add_argument("--scales", nargs="+", type=float, default=[1.0, 0.5, 0.3])
    ap.add_argument("--lambda-depth", nargs="+", type=float, default=[0.0, 1.0, 10.0, 100.0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--ahead", type=int, default=8, help="the second view: this many frames along the path")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.manual_seed(0)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, "
                      f"load {os.getloadavg()[0]:.1f}), torch {torch.__version__}, {torch.get_num_threads()} threads",
           "sizes": [measure(*map(int, s.split("x")), a) for s in a.sizes]}
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
