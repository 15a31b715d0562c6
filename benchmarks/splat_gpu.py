"""GPU benchmark of the 3DGS cache (worldwarp.splat) on the procedural "room" scene.

Seeds Gaussians from the exact RGB-D of the first 5 views of a forward trajectory (720x480), then:
  (a) agreement of the gsplat and PyTorch backends on the same Gaussians (image / depth / alpha),
  (b) timings: gsplat's first call (JIT compile) separately, 500 optimisation steps, a 49-view render,
      and the PyTorch backend's render time per view,
  (c) warp quality of the optimised cache into views 1..48 against the exact scene render
      (PSNR on the mask, recall / precision of the holes vs the exact disocclusion mask).
Every section is guarded: an error is recorded in the JSON and the script goes on.

    python benchmarks/splat_gpu.py --out DIR                       # on a CUDA machine
    python benchmarks/splat_gpu.py --device cpu --tiny --out DIR   # CPU smoke test (torch backend only)
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from worldwarp.config.camera import TrajectoryConfig  # noqa: E402
from worldwarp.config.splat import SplatConfig  # noqa: E402
from worldwarp.geometry.trajectory import make_trajectory  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from worldwarp.splat import init_from_rgbd, optimize, rasterize, render  # noqa: E402
from worldwarp.splat.raster_gsplat import gsplat_available  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    err = ((a - b) ** 2).mean(-1)
    mse = float(err[mask].mean()) if mask is not None else float(err.mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def agreement(g, cams, views, device) -> dict:
    rows = []
    with torch.no_grad():
        for j in views:
            a = rasterize(g, cams.K[j : j + 1], cams.w2c[j : j + 1], cams.width, cams.height, backend="gsplat")
            b = rasterize(g, cams.K[j : j + 1], cams.w2c[j : j + 1], cams.width, cams.height, backend="torch")
            d = (a.rgb - b.rgb).abs()
            both = (a.alpha > 0.5) & (b.alpha > 0.5)
            rel = ((a.depth - b.depth).abs() / a.depth.clamp_min(1e-6))[both]
            rows.append({
                "view": j, "rgb_max_abs": float(d.max()), "rgb_mean_abs": float(d.mean()),
                "rgb_psnr_db": psnr(a.rgb.clamp(0, 1), b.rgb.clamp(0, 1)),
                "depth_rel_mean": float(rel.mean()) if rel.numel() else None,
                "depth_rel_max": float(rel.max()) if rel.numel() else None,
                "alpha_max_abs": float((a.alpha - b.alpha).abs().max()),
                "alpha_mean_abs": float((a.alpha - b.alpha).abs().mean()),
            })
    return {"views": rows}


def warp_quality(g, cams, rgb_gt, dis, backend, cfg) -> dict:
    out = render(g, cams, backend=backend, alpha_threshold=cfg.alpha_threshold, depth_tolerance=cfg.depth_tolerance)
    rows = []
    for j in range(1, len(cams)):
        m, d = out.mask[j], dis[j].to(out.mask.device)
        hole = ~m
        tp = float((hole & d).sum())
        rows.append({
            "view": j, "psnr_mask_db": psnr(out.rgb[j], rgb_gt[j], m) if m.any() else None,
            "coverage": float(m.float().mean()), "disoccluded": float(d.float().mean()),
            "recall": tp / float(d.sum()) if d.any() else None,
            "precision": tp / float(hole.sum()) if hole.any() else None,
        })
    mean = lambda k: sum(r[k] for r in rows if r[k] is not None) / max(1, sum(r[k] is not None for r in rows))  # noqa: E731
    return {"per_view": rows, **{f"mean_{k}": mean(k) for k in ("psnr_mask_db", "coverage", "recall", "precision")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="96x64, 9 views, 10 steps: a smoke test of this script")
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args()
    device = torch.device(args.device)
    W, H, n_views, n_hist, steps = (96, 64, 9, 2, 10) if args.tiny else (720, 480, 49, 5, args.steps)
    use_gsplat = device.type == "cuda" and gsplat_available()
    args.out.mkdir(parents=True, exist_ok=True)
    res: dict = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "size": [W, H], "views": n_views, "history": n_hist, "steps": steps,
        "gsplat": use_gsplat,
    }
    print(f"# splat benchmark — {res['device']} — {res['date']}")

    def save() -> None:
        (args.out / "splat_gpu.json").write_text(json.dumps(res, indent=2))

    def guarded(name, fn):
        try:
            res[name] = fn()
        except Exception as err:  # record and go on: later sections may still work
            res[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            print(f"[{name}] failed: {err}")
        save()

    scene = make_scene("room")
    cams = make_trajectory(TrajectoryConfig(preset="forward", distance=1.0), n_views, W, H, scene.start_pose()).to(device)
    (rgb, depth), t_gt = timed(lambda: scene.render(cams), device)
    dis, t_dis = timed(lambda: scene.disocclusion_mask(cams[:n_hist], cams), device)
    res["scene_render_s"], res["disocclusion_s"] = t_gt, t_dis
    cfg = SplatConfig(steps=steps)
    g0 = init_from_rgbd(rgb[:n_hist], depth[:n_hist], cams.K[:n_hist], cams.w2c[:n_hist], subsample=cfg.subsample,
                        init_opacity=cfg.init_opacity, sh_degree=cfg.sh_degree)
    res["gaussians"] = len(g0)
    print(f"{len(g0)} Gaussians from {n_hist} views at {W}x{H}")
    backend = "gsplat" if use_gsplat else "torch"
    one = lambda b: rasterize(g0, cams.K[:1], cams.w2c[:1], W, H, backend=b)  # noqa: E731

    def timings() -> dict:
        t: dict = {"backend": backend}
        with torch.no_grad():
            _, t["first_call_s"] = timed(lambda: one(backend), device)  # includes gsplat's JIT compile
            _, t["second_call_s"] = timed(lambda: one(backend), device)
            k = min(2, n_views)
            _, tt = timed(lambda: [one("torch") for _ in range(k)], device)
            t["torch_render_per_view_s"] = tt / k
        (g, losses), t["optimize_s"] = timed(
            lambda: optimize(g0, rgb[:n_hist], cams.K[:n_hist], cams.w2c[:n_hist], steps=steps, cfg=cfg, backend=backend),
            device)
        t["optimize_per_step_ms"] = 1e3 * t["optimize_s"] / max(1, steps)
        t["loss_first"], t["loss_last"] = (losses[0], losses[-1]) if losses else (None, None)
        render(g, cams, backend=backend)  # warm-up of the batched path
        _, t["render_all_views_s"] = timed(lambda: render(g, cams, backend=backend), device)
        t["render_per_view_ms"] = 1e3 * t["render_all_views_s"] / n_views
        fitted["g"] = g
        return t

    fitted: dict = {}
    if use_gsplat:
        guarded("agreement", lambda: (one("gsplat"), agreement(g0, cams, sorted({0, n_views // 4, n_views // 2, n_views - 1}), device))[1])
    else:
        res["agreement"] = {"skipped": "gsplat needs CUDA"}
    guarded("timings", timings)
    g = fitted.get("g")
    if g is not None:
        guarded("warp", lambda: {"backend": backend, **warp_quality(g, cams, rgb, dis, backend, cfg)})
    save()
    print_table(res)
    print(f"wrote {args.out / 'splat_gpu.json'}")


def fmt(x) -> str:
    return "—" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def print_table(res: dict) -> None:
    print("\n| quantity | value |\n| --- | --- |")
    for k in ("device", "date", "size", "gaussians", "steps", "scene_render_s", "disocclusion_s"):
        print(f"| {k} | {fmt(res.get(k))} |")
    for section in ("timings", "warp"):
        for k, v in (res.get(section) or {}).items():
            if not isinstance(v, (list, dict)) and k != "traceback":
                print(f"| {section}.{k} | {fmt(v)} |")
    ag = res.get("agreement", {})
    if "views" in ag:
        print("\n| view | rgb max abs | rgb mean abs | PSNR gsplat vs torch | depth rel mean | alpha max abs |\n| --- | --- | --- | --- | --- | --- |")
        for r in ag["views"]:
            print(f"| {r['view']} | {fmt(r['rgb_max_abs'])} | {fmt(r['rgb_mean_abs'])} | {fmt(r['rgb_psnr_db'])} | "
                  f"{fmt(r['depth_rel_mean'])} | {fmt(r['alpha_max_abs'])} |")
    else:
        print(f"\nagreement: {fmt(ag.get('skipped') or ag.get('error'))}")


if __name__ == "__main__":
    main()
