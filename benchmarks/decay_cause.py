"""Where the ~1 dB/chunk decay of the fresh cache comes from (issue 26): a decomposition, weight-free.

Part A (a finished run, e.g. the revisit benchmark's fresh run; classical filler, ground-truth estimator): per chunk
k, each against the procedural scene's exact render at the same poses:
  hist      the history frames chunk k is fitted to (chunk k-1's output frames)
  fit       chunk k's cache rendered at those history poses            (what the 3DGS re-fit keeps)
  refit     fit vs hist                                                  (the re-fit's own loss)
  depth     relative |depth - exact| of the history frames' depth (the previous cache's render, holes filled)
  warp_ok   the new frames' warp where valid (mask=1)                    (what the cache carries forward)
  hole      the new frames' filled pixels (mask=0)
  new       the new frames as output; hole_fraction the share of mask=0
Part B (the re-fit alone): 5 exact frames of one chunk, fitted, rendered at the same 5 poses, fitted again to the
renders (with the rendered depth), ... ``--generations`` times; PSNR of each generation against the exact frames.
No warp, no filler, no new views: only the resampling of the 3DGS re-fit.

    OMP_NUM_THREADS=1 python benchmarks/decay_cause.py --store RUN.zarr --out docs/benchmarks/decay_cause.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stages.gaussians import load_gaussians  # noqa: E402
from worldwarp.config import load_params  # noqa: E402
from worldwarp.config.demo import DEMO_OVERRIDES  # noqa: E402
from worldwarp.geometry.cameras import Cameras  # noqa: E402
from worldwarp.metrics.image import psnr  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from worldwarp.splat import build_cache, render  # noqa: E402


def _p(a, b, m=None) -> float:
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    return float(psnr(a, b, None if m is None else torch.as_tensor(np.asarray(m)).bool()).mean())


def part_a(store_path: Path) -> list[dict]:
    """The decomposition on a finished run (e.g. benchmarks/revisit.py's fresh run); the warp is rendered again
    from each chunk's cache, so the run need not have kept its renders."""
    from worldwarp.config import validate_stored
    from worldwarp.store import RunStore

    store = RunStore.open(store_path)
    cfg = validate_stored(store.params)
    scene = make_scene(cfg.scene.name)
    inp = store.read_input()
    K, w2c = np.asarray(inp["K"]), np.asarray(inp["w2c"])
    H, W = cfg.resolution.height, cfg.resolution.width
    rows = []
    for k in range(cfg.chunk.count):
        geo = store.read_stage(k, "geometry")
        cams = Cameras(geo["K"], geo["w2c"], W, H)
        ex_rgb, ex_depth = (t.numpy() for t in scene.render(cams))
        g = load_gaussians(store, k)
        fit = render(g, cams, backend="torch")
        rel = np.abs(geo["depth"] - ex_depth) / ex_depth
        s = k * cfg.chunk.new_frames
        h = 1 if k == 0 else cfg.chunk.history
        sl = slice(s + h, s + cfg.chunk.frames)
        new_cams = Cameras(K[sl], w2c[sl], W, H)
        ex_new = scene.render(new_cams)[0].numpy()
        warped = render(g, new_cams, backend="torch").rgb.numpy()
        mask = store.read_array(k, "warp", "mask")[h:].astype(bool)
        out = store.read_array(k, "frames", "rgb")[h:]
        rows.append({"chunk": k, "hist": _p(geo["rgb"], ex_rgb), "fit": _p(fit.rgb, ex_rgb),
                     "refit": _p(fit.rgb, geo["rgb"]), "depth_rel_err_median": float(np.median(rel)),
                     "depth_rel_err_p90": float(np.quantile(rel, 0.9)), "warp_ok": _p(warped, ex_new, mask),
                     "hole": _p(out, ex_new, ~mask) if (~mask).any() else None, "new": _p(out, ex_new),
                     "hole_fraction": float(1 - mask.mean())})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def part_b(generations: int, steps: int, exact_depth: bool, size: list[str]) -> list[float]:
    cfg = load_params(None, [*DEMO_OVERRIDES, *size, f"splat.steps={steps}"])
    from stages.inputs import trajectory_cameras  # the demo's cameras, as a run makes them

    cams_all = trajectory_cameras(cfg)
    cams = Cameras(cams_all.K[12:17], cams_all.w2c[12:17], cams_all.width, cams_all.height)
    scene = make_scene(cfg.scene.name)
    ex_rgb, ex_depth = scene.render(cams)
    rgb, depth, out = ex_rgb, ex_depth, []
    for g in range(generations):
        gs, _ = build_cache(rgb, depth, cams.K, cams.w2c, cfg.splat, backend="torch", seed=g)
        r = render(gs, cams, backend="torch")
        out.append(_p(r.rgb, ex_rgb))
        print(f"generation {g}: {out[-1]:.2f} dB (exact depth: {exact_depth})", flush=True)
        rgb, depth = r.rgb, (ex_depth if exact_depth else r.depth)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="a finished fresh run to decompose (part A); none: part B only")
    ap.add_argument("--steps", type=int, default=150, help="3DGS steps per chunk (the demo's)")
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    size = [f"resolution.height={a.height}", f"resolution.width={a.width}"]
    torch.manual_seed(0)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.node()} ({platform.processor() or platform.machine()}), shared 2-core, under load",
           "steps": a.steps, "size": [a.height, a.width],
           "pipeline": part_a(a.store) if a.store else None,
           "refit_chain": part_b(a.generations, a.steps, False, size),
           "refit_chain_exact_depth": part_b(a.generations, a.steps, True, size)}
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
