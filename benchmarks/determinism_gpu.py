"""Is one chunk's 3DGS cache bit-identical when built twice? gsplat (the CUDA default) vs deterministic=true.

One chunk of the procedural room (exact RGB-D of the first 5 views of a forward trajectory, 720x480 by
default): seed Gaussians, optimise ``--steps`` steps, warp into the chunk's 49 views. Each mode runs twice
in this process with the same seed; the script prints, per mode, the max abs difference between the two
runs of every Gaussian field and of the warp (RGB, alpha, depth, mask), and the time of each run.

Modes (the determinism switch is stages.common.set_determinism, what the stages apply from the config):
  gsplat         deterministic=false, splat.backend=auto -> gsplat (the GPU default)
  torch          deterministic=false, splat.backend=torch (the reference rasteriser with default kernels)
  deterministic  deterministic=true,  splat.backend=auto -> torch reference + PyTorch deterministic kernels

    python benchmarks/determinism_gpu.py --out DIR                      # on a CUDA machine (the default profile)
    python benchmarks/determinism_gpu.py --device cpu --tiny --out DIR  # CPU smoke test (no gsplat)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# cuBLAS reads its workspace setting when a handle first runs: fix it before any mode touches the GPU
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402

from stages.common import set_determinism  # noqa: E402
from worldwarp.config import load_params  # noqa: E402
from worldwarp.geometry.trajectory import make_trajectory  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from worldwarp.splat import build_cache, render  # noqa: E402
from worldwarp.splat.raster_gsplat import gsplat_available  # noqa: E402
from worldwarp.splat.rasterize import resolve_backend  # noqa: E402

MODES = {"gsplat": (False, "auto"), "torch": (False, "torch"), "deterministic": (True, "auto")}
FIELDS = ("means", "quats", "scales", "opacities", "sh")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def chunk_data(cfg, device: torch.device, history: int):
    """Exact RGB-D of the first ``history`` views (what the cache is fitted to) and the chunk's cameras."""
    scene = make_scene("room")
    H, W = cfg.resolution.height, cfg.resolution.width
    cams = make_trajectory(cfg.trajectory, cfg.chunk.frames, W, H, scene.start_pose())
    rgb, depth = scene.render(cams[0:history])
    return rgb.to(device), depth.to(device), cams.to(device)


def one_run(cfg, data, backend: str, seed: int, device: torch.device) -> tuple[dict, float, float]:
    rgb, depth, cams = data
    h = rgb.shape[0]
    sync(device)
    t0 = time.perf_counter()
    g, _ = build_cache(rgb, depth, cams.K[:h], cams.w2c[:h], cfg.splat, backend=backend, seed=seed)
    sync(device)
    t_opt = time.perf_counter() - t0
    out = render(g, cams, backend=backend, alpha_threshold=cfg.splat.alpha_threshold,
                 depth_tolerance=cfg.splat.depth_tolerance)
    sync(device)
    t_warp = time.perf_counter() - t0 - t_opt
    arrays = {f: getattr(g, f).detach().cpu() for f in FIELDS}
    arrays.update({f"warp_{n}": getattr(out, n).detach().cpu().float() for n in ("rgb", "alpha", "depth", "mask")})
    # the same Gaussians rendered again: what a resume does when it re-makes a dropped render (docs/STORE.md)
    again = render(g, cams, backend=backend, alpha_threshold=cfg.splat.alpha_threshold,
                   depth_tolerance=cfg.splat.depth_tolerance)
    arrays["rerender_identical"] = torch.tensor(all(
        torch.equal(getattr(out, n).nan_to_num(), getattr(again, n).nan_to_num()) for n in ("rgb", "alpha", "depth", "mask")))
    return arrays, t_opt, t_warp


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return float("inf")
    d = (a - b).abs()
    d = d[~(a.isnan() & b.isnan())]  # NaN at the same place is the same value
    return float(d.max()) if d.numel() else 0.0


def run_mode(name: str, cfg, data, device: torch.device, seed: int) -> dict:
    deterministic, backend = MODES[name]
    set_determinism(deterministic)
    used = resolve_backend(backend, device)
    if name == "gsplat" and used != "gsplat":
        return {"skipped": f"gsplat not usable on {device}"}
    if used == "gsplat":  # JIT compile and CUDA warm-up outside the timings
        warm = cfg.splat.model_copy(update={"steps": 2})
        build_cache(data[0], data[1], data[2].K[: len(data[0])], data[2].w2c[: len(data[0])], warm, backend=backend)
    runs = [one_run(cfg, data, backend, seed, device) for _ in range(2)]
    (a, t_opt1, t_warp1), (b, t_opt2, t_warp2) = runs
    rerender = bool(a.pop("rerender_identical")) and bool(b.pop("rerender_identical"))
    diffs = {n: max_abs(a[n], b[n]) for n in a}
    return {
        "rasteriser": used, "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "gaussians": int(a["means"].shape[0]),
        "bit_identical": all(torch.equal(a[n].nan_to_num(), b[n].nan_to_num()) for n in a),
        "rerender_bit_identical": rerender,
        "max_abs_diff": diffs,
        "optimise_seconds": [round(t_opt1, 3), round(t_opt2, 3)],
        "warp_seconds": [round(t_warp1, 3), round(t_warp2, 3)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--tiny", action="store_true", help="64x96, 9 frames, 10 steps, longshot profile (CPU smoke test)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="a config override, section.key=value")
    ap.add_argument("--modes", default="gsplat,torch,deterministic")
    ap.add_argument("--out", type=Path, default=None, help="directory for determinism_gpu.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but no CUDA device is available")
    size = ["profile=longshot", "resolution.height=64", "resolution.width=96", "chunk.frames=9"] if args.tiny else []
    steps = 10 if args.tiny else args.steps
    cfg = load_params(None, [*size, "chunk.history=5", f"splat.steps={steps}", "trajectory.preset=forward",
                             *args.overrides])
    data = chunk_data(cfg, device, cfg.chunk.history)
    report = {
        "date": datetime.date.today().isoformat(), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch": torch.__version__, "gsplat_available": gsplat_available(), "python": platform.python_version(),
        "profile": cfg.profile, "splat": cfg.splat.model_dump(mode="json"),
        "resolution": [cfg.resolution.height, cfg.resolution.width], "views_fitted": cfg.chunk.history,
        "views_warped": cfg.chunk.frames, "steps": steps, "modes": {},
    }
    if report["gsplat_available"]:
        import gsplat

        report["gsplat"] = gsplat.__version__
    for name in args.modes.split(","):
        report["modes"][name] = run_mode(name, cfg, data, device, seed=0)
        print(name, json.dumps(report["modes"][name]), flush=True)
    set_determinism(False)
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "determinism_gpu.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
