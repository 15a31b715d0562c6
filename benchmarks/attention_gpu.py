"""Where the ST-Diff forward's time goes, against what the H100 can do, and FlashAttention-4 as the attention kernel.

Issue #12 asks for a whole chunk with CFG on all 50 steps in <= 20 s; the compiled transformer alone takes ~20 s.
This script measures the bound and the one lever left that keeps the numbers exact:

- gemm: bf16 matmul throughput at the model's own shapes (35,100 token rows = one CFG step at 480x720);
- sdpa: the attention kernels at the model's shape (batch 2, 12 heads, 17,550 tokens, head dim 128): PyTorch's
  flash (FlashAttention-2), cuDNN and memory-efficient kernels, and FlashAttention-4 (the `flash-attn-4` package,
  CuTe DSL) through torch's own switch ``torch.nn.attention.activate_flash_attention_impl("FA4")`` when it is
  importable; TFLOP/s and the error against an fp32 reference on a subset of queries;
- forward: the compiled transformer forward (batch 2, per-token timesteps) with a CUDA-kernel profile grouped into
  attention / GEMM / fused (Triton) / other, with PyTorch's flash kernel and with FA4; output differences to the
  eager bf16 forward;
- loop: the guidance-interval loop under compile (CFG on sigma in [0.5, 1]) with per-step seconds, guided and
  unguided steps apart, with and without the time table: why unguided steps cost more than they should (§10).

Each part is guarded; the JSON is rewritten after each.

    python benchmarks/attention_gpu.py --out DIR [--parts gemm,sdpa,forward,loop] [--fa4]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from gpu_timing import first_call_s, guarded, timed  # noqa: E402

T0 = time.perf_counter()
RES: dict = {"date": datetime.date.today().isoformat(), "parts": {}}
OUT = Path(".")
B, HEADS, N, D = 2, 12, 17_550, 128  # one CFG step of Wan2.1-1.3B at 480x720 (13 x 30 x 45 tokens)


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def save() -> None:
    (OUT / "attention_gpu.json").write_text(json.dumps(RES, indent=1))


def fa4_available() -> str | None:
    """None when FA4 can be switched on, else why not."""
    try:
        import flash_attn.cute.interface  # noqa: F401
        from torch.nn.attention import list_flash_attention_impls
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    if "FA4" not in list_flash_attention_impls():
        return f"torch lists {list_flash_attention_impls()}"
    return None


def use_fa4(on: bool) -> None:
    """The pipeline's own switch (diffusion.attention=fa4): torch's FA4 glue, read through worldwarp's shim."""
    from worldwarp.diffusion import flash4

    if on:
        flash4.activate(torch.device("cuda"))
    else:
        flash4.deactivate()


@guarded("env", RES, save)
def env(rec: dict) -> None:
    rec.update(device=torch.cuda.get_device_name(), torch=torch.__version__, cuda=torch.version.cuda,
               cudnn=torch.backends.cudnn.version(), sdp_priority=list(torch._C._get_sdp_priority_order()))
    rec["fa4_unavailable"] = fa4_available()
    try:
        import importlib.metadata as md

        rec["fa4_version"] = md.version("flash-attn-4")
    except Exception:  # noqa: BLE001
        pass
    log(f"env {rec}")


@guarded("gemm", RES, save)
def gemm(rec: dict, reps: int) -> None:
    m = B * N
    g = torch.Generator(device="cuda").manual_seed(0)
    for name, k, n in (("qkvo 1536x1536", 1536, 1536), ("ffn up 1536x8960", 1536, 8960), ("ffn down 8960x1536", 8960, 1536),
                       ("square 8192", 8192, 8192)):
        mm = 8192 if name.startswith("square") else m
        a = torch.randn(mm, k, device="cuda", dtype=torch.bfloat16, generator=g)
        w = torch.randn(k, n, device="cuda", dtype=torch.bfloat16, generator=g)
        s, _ = timed(lambda: a @ w, reps, warm=3)
        rec[name] = {"ms": round(s * 1e3, 3), "tflops": round(2 * mm * k * n / s / 1e12, 1)}
        log(f"gemm {name}: {rec[name]}")
        del a, w


def attention_flops(b: int = B) -> float:
    return 4.0 * b * HEADS * N * N * D


@guarded("sdpa", RES, save)
def sdpa(rec: dict, reps: int, fa4: bool) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as attn

    g = torch.Generator(device="cuda").manual_seed(0)
    # diffusers hands SDPA (B, N, H, D) tensors permuted to (B, H, N, D): strided, as here
    q, k, v = (torch.randn(B, N, HEADS, D, device="cuda", dtype=torch.bfloat16, generator=g).permute(0, 2, 1, 3)
               for _ in range(3))
    nq = 512  # fp32 reference on the first queries against every key
    ref = torch.softmax((q[:, :, :nq].float() @ k.float().transpose(-1, -2)) / D ** 0.5, -1) @ v.float()
    rows = [("flash (FA2)", SDPBackend.FLASH_ATTENTION, False), ("cudnn", SDPBackend.CUDNN_ATTENTION, False),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION, False)]
    if fa4:
        rows.append(("FA4", SDPBackend.FLASH_ATTENTION, True))
    for name, backend, on in rows:
        try:
            use_fa4(on)
            with sdpa_kernel(backend):
                s, out = timed(lambda: attn(q, k, v), reps, warm=2)
            d = (out[:, :, :nq].float() - ref).abs()
            rec[name] = {"ms": round(s * 1e3, 3), "tflops": round(attention_flops() / s / 1e12, 1),
                         "max_abs_err": float(d.max()), "mean_abs_err": float(d.mean())}
        except Exception as e:  # noqa: BLE001
            rec[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
        finally:
            use_fa4(False)
        log(f"sdpa {name}: {rec[name]}")
        save()


def kernel_profile(fn, steps: int = 3) -> dict:
    """CUDA kernel time per forward grouped by kind (torch.profiler), and the top kernels."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        torch.cuda.synchronize()
    groups: dict[str, float] = {}
    top = []
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
        if us <= 0:
            continue
        n = e.key.lower()
        if any(s in n for s in ("flash", "fmha", "attention", "sdpa", "cudnn")):
            kind = "attention"
        elif any(s in n for s in ("gemm", "nvjet", "cutlass", "xmma", "cublas", "sm90_", "matmul")):
            kind = "gemm"
        elif "triton" in n:
            kind = "fused (triton)"
        else:
            kind = "other"
        groups[kind] = groups.get(kind, 0.0) + us / 1e3 / steps
        top.append((us / 1e3 / steps, e.key[:120], kind))
    top.sort(reverse=True)
    return {"ms_per_forward_by_kind": {k: round(v, 2) for k, v in sorted(groups.items())},
            "kernel_ms_total": round(sum(groups.values()), 2),
            "top": [{"ms": round(t, 2), "kernel": n, "kind": k} for t, n, k in top[:12]]}


def build_transformer():
    from diffusers import WanTransformer3DModel

    from worldwarp.diffusion.standins import WAN21_1_3B

    with torch.device("cuda"):
        tr = WanTransformer3DModel(**WAN21_1_3B).to(torch.bfloat16).eval().requires_grad_(False)
    return tr


def wan_inputs(tr, batch: int = B) -> dict:
    T, h, w = 13, 60, 90
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 16, T, h, w, generator=g).cuda().to(torch.bfloat16)
    levels = torch.tensor([0.0, 612.0, 951.0, 1000.0])
    t_tok = levels[torch.randint(4, (T * (h // 2) * (w // 2),), generator=g)].cuda().expand(batch, -1).contiguous()
    ctx = torch.randn(batch, 512, tr.config.text_dim, generator=g).cuda().to(torch.bfloat16)
    return dict(hidden_states=x, timestep=t_tok, encoder_hidden_states=ctx, return_dict=False)


def diff(out: torch.Tensor, ref: torch.Tensor) -> dict:
    d = (out.float() - ref.float()).abs()
    return {"max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()), "ref_mean_abs": float(ref.float().abs().mean())}


@guarded("forward", RES, save)
def forward(rec: dict, reps: int, fa4: bool) -> None:
    tr = build_transformer()
    kw = wan_inputs(tr)
    linear_tflop = 2 * sum(p.numel() for n, p in tr.blocks.named_parameters() if n.endswith("weight") and p.ndim == 2) * B * N / 1e12
    rec["flop_per_forward_T"] = {"block_linears": round(linear_tflop, 1),
                                 "self_attention": round(attention_flops() * len(tr.blocks) / 1e12, 1)}
    with torch.no_grad():
        s, ref = timed(lambda: tr(**kw)[0], reps)
        rec["eager_ms"] = round(s * 1e3, 1)
        tr.compile_repeated_blocks(fullgraph=True, dynamic=False)
        rec["compile_s"] = round(first_call_s(lambda: tr(**kw)), 1)
        s, out = timed(lambda: tr(**kw)[0], reps)
        rec["compiled_ms"] = round(s * 1e3, 1)
        rec["compiled_vs_eager"] = diff(out, ref)
        rec["compiled_profile"] = kernel_profile(lambda: tr(**kw))
        log(f"forward eager {rec['eager_ms']} ms, compiled {rec['compiled_ms']} ms, {rec['compiled_profile']['ms_per_forward_by_kind']}")
        save()
        if not fa4:
            return
        base = out
        # the flash op compiled in (diffusion.attention=fa4 runs diffusers' _native_flash): first PyTorch's FA2 kernel
        tr.set_attention_backend("_native_flash")
        torch._dynamo.reset()
        tr(**kw)
        s, out = timed(lambda: tr(**kw)[0], reps)
        rec["compiled_flash_fa2_ms"] = round(s * 1e3, 1)
        rec["compiled_flash_fa2_profile"] = kernel_profile(lambda: tr(**kw))
        log(f"forward compiled, flash op (FA2): {rec['compiled_flash_fa2_ms']} ms")
        save()
        use_fa4(True)
        try:
            torch._dynamo.reset()
            rec["compile_fa4_s"] = round(first_call_s(lambda: tr(**kw)), 1)
            s, out = timed(lambda: tr(**kw)[0], reps)
            rec["compiled_fa4_ms"] = round(s * 1e3, 1)
            rec["compiled_fa4_vs_eager"] = diff(out, ref)
            rec["compiled_fa4_vs_compiled"] = diff(out, base)
            rec["compiled_fa4_profile"] = kernel_profile(lambda: tr(**kw))
            rec["compiled_fa4_rerun_bitwise"] = bool(torch.equal(tr(**kw)[0], tr(**kw)[0]))
            log(f"forward compiled+FA4 {rec['compiled_fa4_ms']} ms, {rec['compiled_fa4_profile']['ms_per_forward_by_kind']}, "
                f"vs eager {rec['compiled_fa4_vs_eager']}")
        finally:
            use_fa4(False)
            tr.set_attention_backend("native")


@guarded("loop", RES, save)
def loop(rec: dict, steps: int) -> None:
    from worldwarp.diffusion.sampler import denoise_loop, noisy_start
    from worldwarp.diffusion.schedule import global_sigmas

    tr = build_transformer()
    tr.compile_repeated_blocks(fullgraph=True, dynamic=False)
    g = torch.Generator().manual_seed(0)
    T, h, w = 13, 60, 90
    sigma0 = torch.full((T, h // 2, w // 2), 0.8)
    sigma0[:2] = 0.0  # history latents
    sigma0[2:, :, 30:] = 1.0  # a hole band
    z_warp = torch.randn(1, 16, T, h, w, generator=g).cuda()
    z = noisy_start(z_warp, sigma0.cuda(), torch.randn(z_warp.shape, generator=g).cuda())
    cond, uncond = (torch.randn(1, 512, tr.config.text_dim, generator=g).cuda().to(torch.bfloat16) for _ in range(2))
    sig = global_sigmas(steps, 3.0)
    for name, interval, table in (("warmup", (0.5, 1.0), True), ("full_cfg", (0.0, 1.0), True),
                                  ("interval_0.5", (0.5, 1.0), True), ("interval_0.5_no_table", (0.5, 1.0), False)):
        t = time.perf_counter()
        _, st = denoise_loop(tr, z, sigma0, sig if name != "warmup" else global_sigmas(4, 3.0), cond, uncond, 5.0,
                             guidance_interval=interval, time_steps=True, use_time_table=table)
        torch.cuda.synchronize()
        wall = time.perf_counter() - t
        guided = [s for s, gd in zip(st.step_seconds, _guided(sig if name != "warmup" else global_sigmas(4, 3.0), interval))
                  if gd]
        unguided = st.step_seconds[len(guided):] if interval[0] > 0 else []
        rec[name] = {"wall_s": round(wall, 2), "forwards": st.forwards, "guided": st.guided_forwards,
                     "guided_step_ms_median": round(statistics.median(guided) * 1e3, 1) if guided else None,
                     "unguided_step_ms": [round(x * 1e3, 1) for x in unguided]}
        log(f"loop {name}: {rec[name]}")
        save()


def _guided(sig: torch.Tensor, interval: tuple[float, float]) -> list[bool]:
    from worldwarp.diffusion.schedule import guided_steps

    return guided_steps(sig, interval)


def main() -> None:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--parts", default="gemm,sdpa,forward,loop")
    ap.add_argument("--fa4", action="store_true", help="also FlashAttention-4 (needs the flash-attn-4 package)")
    a = ap.parse_args()
    OUT = a.out
    OUT.mkdir(parents=True, exist_ok=True)
    parts = a.parts.split(",")
    env()
    fa4 = a.fa4 and RES["parts"]["env"].get("fa4_unavailable") is None
    if "gemm" in parts:
        gemm(a.reps)
    if "sdpa" in parts:
        sdpa(a.reps, fa4)
    if "forward" in parts:
        forward(a.reps, fa4)
        torch._dynamo.reset()
        torch.cuda.empty_cache()
    if "loop" in parts:
        loop(a.steps)
    log("done")


if __name__ == "__main__":
    main()
