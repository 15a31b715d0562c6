"""GPU measurements of the speed levers of issue #12, each against the exact path on the same inputs.

(1) One full-size ST-Diff transformer forward (Wan2.1-1.3B config, random weights, 49 frames at 480x720 = 17,550
    tokens, per-token timesteps with a few distinct levels, batch 2 = CFG): bf16 eager (the reference), bf16 +
    torch.compile, + the time-embedding table (worldwarp.diffusion.time_table, when present), + FP8 rowwise
    linears (torchao, when importable) + compile. Median ms per forward and max / mean |difference| to the
    reference output. Part "attention": the eager forward per SDPA backend (flash, cuDNN, efficient), the fastest
    exact one also compiled. Part "batch1": compiled forwards at batch 2 and batch 1, alone and alternating.
(2) The 3DGS optimisation step at 480x720 on the room scene (5 views, ~430k Gaussians): the time of 500 steps
    as the pipeline runs them, and a per-part breakdown (rasterise forward+backward, SSIM+L1 forward+backward,
    Adam), then variants (compiled loss). A stacked SSIM (the five statistics blurred in one grouped convolution)
    was measured here on 2026-11-25 (commit 4149517) and was slower on the H100: docs/BENCHMARKS.md §11.
Each part is guarded; the JSON is rewritten after each measurement.

    python benchmarks/levers_gpu.py --out DIR
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from gpu_timing import first_call_s, guarded, timed  # noqa: E402

T0 = time.perf_counter()
PARTS: set[str] = set()
RES: dict = {"date": datetime.date.today().isoformat(), "parts": {}}
OUT: Path = Path(".")


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def save() -> None:
    (OUT / "levers_gpu.json").write_text(json.dumps(RES, indent=1))


def wan_inputs(tr, dev):
    T, h, w = 13, 60, 90  # latent grid of 49 frames at 480x720
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, T, h, w, generator=g).to(dev, torch.bfloat16)
    levels = torch.tensor([0.0, 612.0, 951.0, 1000.0])  # history, warped, holes... a handful of levels per step
    t_tok = levels[torch.randint(4, (T * (h // 2) * (w // 2),), generator=g)].to(dev).expand(2, -1).contiguous()
    ctx = torch.randn(2, 512, tr.config.text_dim, generator=g).to(dev, torch.bfloat16)
    return dict(hidden_states=x, timestep=t_tok, encoder_hidden_states=ctx, return_dict=False)


def compare(rec: dict, name: str, out: torch.Tensor, ref: torch.Tensor, ms: float) -> None:
    d = (out.float() - ref.float()).abs()
    rec[name] = {"ms": round(ms * 1e3, 2), "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
                 "ref_mean_abs": float(ref.float().abs().mean())}
    log(f"{name}: {ms * 1e3:.1f} ms, max |d| {float(d.max()):.3g}, mean |d| {float(d.mean()):.3g}")
    save()


@guarded("transformer_forward", RES, save)
def transformer(rec: dict, reps: int) -> None:
    from diffusers import WanTransformer3DModel

    from worldwarp.diffusion.standins import WAN21_1_3B

    dev = torch.device("cuda")
    with torch.device(dev):
        tr = WanTransformer3DModel(**WAN21_1_3B).to(torch.bfloat16).eval()
    kw = wan_inputs(tr, dev)
    rec["tokens"] = int(kw["timestep"].shape[1])
    with torch.no_grad():
        ms, ref = timed(lambda: tr(**kw)[0], reps)
        compare(rec, "bf16_eager", ref, ref, ms)
        from worldwarp.diffusion.time_table import time_table

        with time_table(tr, kw["timestep"]):
            ms, out = timed(lambda: tr(**kw)[0], reps)
        compare(rec, "bf16_eager_time_table", out, ref, ms)
        if "attention" in PARTS:
            attention_backends(rec, tr, kw, ref, reps)
        if "bf16_compile" in PARTS:
            for blk in tr.blocks:  # regional compile, as diffusion.compile does
                blk.compile()
            rec["compile_s"] = first_call_s(lambda: tr(**kw))
            ms, out = timed(lambda: tr(**kw)[0], reps)
            compare(rec, "bf16_compile", out, ref, ms)
            with time_table(tr, kw["timestep"]):
                ms, out = timed(lambda: tr(**kw)[0], reps)
            compare(rec, "bf16_compile_time_table", out, ref, ms)
            if "batch1" in PARTS:
                batch_sizes(rec, tr, kw, reps)
            best = rec.get("attention_best")
            if best and best != "native":
                tr.set_attention_backend(best)
                torch._dynamo.reset()
                rec[f"compile_{best}_s"] = first_call_s(lambda: tr(**kw))
                with time_table(tr, kw["timestep"]):
                    ms, out = timed(lambda: tr(**kw)[0], reps)
                compare(rec, f"bf16_compile_time_table_{best}", out, ref, ms)
                tr.set_attention_backend("native")
                torch._dynamo.reset()
        if "fp8" not in PARTS:
            return
        try:
            from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

            quantize_(tr, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))
            ms, out = timed(lambda: tr(**kw)[0], reps)
            compare(rec, "fp8_rowwise_eager", out, ref, ms)
            for blk in tr.blocks:
                blk.compile()
            rec["fp8_compile_s"] = first_call_s(lambda: tr(**kw))
            with time_table(tr, kw["timestep"]):
                ms, out = timed(lambda: tr(**kw)[0], reps)
            compare(rec, "fp8_rowwise_compile_time_table", out, ref, ms)
        except Exception as e:  # noqa: BLE001
            rec["fp8"] = {"error": f"{type(e).__name__}: {e}"}
            traceback.print_exc()
    del tr
    torch.cuda.empty_cache()


ATTENTION = ("native", "_native_flash", "_native_cudnn", "_native_efficient")


def attention_backends(rec: dict, tr, kw: dict, ref: torch.Tensor, reps: int) -> None:
    """Eager forward per SDPA backend (diffusers' names, as `diffusion.attention` takes them); the fastest one
    whose output stays at bf16 rounding of the reference is also timed compiled."""
    best = ("native", float("inf"))
    for name in ATTENTION:
        try:
            tr.set_attention_backend(name)
            ms, out = timed(lambda: tr(**kw)[0], reps)
        except Exception as e:  # noqa: BLE001 - a backend this GPU/torch lacks is recorded, not fatal
            rec[f"attention_{name}"] = {"error": f"{type(e).__name__}: {e}"}
            log(f"attention {name}: {type(e).__name__}: {e}")
            continue
        compare(rec, f"attention_{name}", out, ref, ms)
        d = float((out.float() - ref.float()).abs().mean())
        if ms < best[1] and d < 0.02:
            best = (name, ms)
    tr.set_attention_backend("native")
    rec["attention_best"] = best[0]


def batch_sizes(rec: dict, tr, kw: dict, reps: int) -> None:
    """Compiled forward at batch 2 (a CFG step) and batch 1 (an unguided step), alone and alternating: why
    the CFG interval's unguided steps cost more than expected under compile (docs/BENCHMARKS.md §10)."""
    kw1 = {k: (v[:1].contiguous() if torch.is_tensor(v) else v) for k, v in kw.items()}
    res = {}
    res["b2_ms"], _ = timed(lambda: tr(**kw)[0], reps)
    res["b1_ms"], _ = timed(lambda: tr(**kw1)[0], reps)
    res["b2_again_ms"], _ = timed(lambda: tr(**kw)[0], reps)
    ts = []
    for _ in range(reps):
        for k in (kw, kw1):
            t = time.perf_counter()
            tr(**k)
            torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
    res["alternating_b2_ms"] = statistics.median(ts[0::2])
    res["alternating_b1_ms"] = statistics.median(ts[1::2])
    rec["compiled_batch_sizes"] = {k: round(v * 1e3, 2) for k, v in res.items()}
    log(f"compiled batch sizes: {rec['compiled_batch_sizes']}")
    save()


def room_cache(dev):
    """The cache a chunk optimises: Gaussians from the exact RGB-D of 5 history views of the room at 720x480."""
    from worldwarp.config.camera import TrajectoryConfig
    from worldwarp.config.splat import SplatConfig
    from worldwarp.geometry.trajectory import make_trajectory
    from worldwarp.scenes import make_scene
    from worldwarp.splat import init_from_rgbd

    W, H, V = 720, 480, 5
    scene = make_scene("room")
    cams = make_trajectory(TrajectoryConfig(preset="forward", distance=1.0), 49, W, H, scene.start_pose()).to(dev)
    rgb, depth = scene.render(cams[:V])
    cfg = SplatConfig()
    g = init_from_rgbd(rgb, depth, cams.K[:V], cams.w2c[:V], subsample=cfg.subsample, init_opacity=cfg.init_opacity,
                       sh_degree=cfg.sh_degree)
    return g.to(dev), rgb, depth, cams.K[:V], cams.w2c[:V], cfg


@guarded("splat_step", RES, save)
def splat(rec: dict, steps: int) -> None:
    from worldwarp.splat import optimize, rasterize
    from worldwarp.splat.optimize import make_adam, photometric_loss, scene_extent

    dev = torch.device("cuda")
    g, rgb, depth, K, w2c, cfg = room_cache(dev)
    rec["gaussians"] = len(g)
    optimize(g, rgb, K, w2c, steps=5, cfg=cfg, backend="gsplat", depth=depth)  # gsplat JIT and warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    optimize(g, rgb, K, w2c, steps=steps, cfg=cfg, backend="gsplat", depth=depth)
    torch.cuda.synchronize()
    rec["optimize_s"] = time.perf_counter() - t
    log(f"3DGS {steps} steps: {rec['optimize_s']:.2f} s ({len(g)} Gaussians)")
    # per-part breakdown on one view
    params = {n: getattr(g, n).clone().requires_grad_(True) for n in ("means", "quats", "scales", "opacities")}
    params["sh_dc"], params["sh_rest"] = g.sh[:, :1].clone().requires_grad_(True), g.sh[:, 1:].clone().requires_grad_(True)
    from worldwarp.splat.gaussians import Gaussians

    def cur():
        return Gaussians(params["means"], params["quats"], params["scales"], params["opacities"],
                         torch.cat([params["sh_dc"], params["sh_rest"]], 1))

    H, W = rgb.shape[1:3]

    def raster_fb():
        out = rasterize(cur(), K[:1], w2c[:1], W, H, backend="gsplat")
        out.rgb.sum().backward()

    pred = rasterize(cur(), K[:1], w2c[:1], W, H, backend="gsplat").rgb.detach().requires_grad_(True)

    def loss_fb():
        photometric_loss(pred, rgb[:1], cfg.lambda_dssim).backward()

    comp_loss = torch.compile(photometric_loss)

    def loss_fb_compiled():
        comp_loss(pred, rgb[:1], cfg.lambda_dssim).backward()

    opt = make_adam(params, cfg, scene_extent(g, w2c))
    for p in params.values():
        p.grad = torch.zeros_like(p)
    reps = 50
    for name, fn in (("raster_fwd_bwd", raster_fb), ("loss_fwd_bwd", loss_fb), ("loss_fwd_bwd_compiled", loss_fb_compiled),
                     ("adam_step", opt.step)):
        ms, _ = timed(fn, reps)
        rec[f"{name}_ms"] = round(ms * 1e3, 3)
        log(f"{name}: {ms * 1e3:.2f} ms")


def main() -> None:
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--parts", default="transformer,splat,bf16_compile,fp8,attention,batch1")
    a = ap.parse_args()
    PARTS.update(a.parts.split(","))
    OUT = a.out
    OUT.mkdir(parents=True, exist_ok=True)
    RES.update(device=torch.cuda.get_device_name(), torch=torch.__version__)
    if "splat" in a.parts:
        splat(a.steps)
    if "transformer" in a.parts:
        transformer(a.reps)
    print(json.dumps(RES, indent=1))


if __name__ == "__main__":
    main()
