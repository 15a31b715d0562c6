"""The denoiser's speed/quality table: the exact paths and the optional fast modes of issue #12, same chunk, same seed.

One full-size 49-frame 480x720 chunk (synthetic warp with a growing hole band, history 5; the one
benchmarks/stdiff_gpu.py uses), random Wan2.1-1.3B weights and the real-config VAE, saved in diffusers layout and
loaded through the project's loader; random prompt embeddings. Every row runs the pipeline's own denoiser
(StDiffDenoiser) on the same input and seed; differences are against the eager bf16 path (the reference) and
against the compiled default:

- latents: max and mean |z_out - z_ref|, and the reference's mean |z| for scale;
- decoded frames (the chunk's 44 new frames, in [0, 1]): PSNR and SSIM (pytorch_msssim, Wang et al.) vs the reference.

Rows: eager (reference), compiled (the CUDA default), bf16 VAE, CFG on sigma in [0.5, 1], 30 and 25 steps,
First Block Cache at several thresholds (diffusion.step_cache), a combination, and the cached row run twice
(is it deterministic?). Compile warm-ups run before the timed rows and are reported apart.

    python benchmarks/fast_modes_gpu.py --out DIR          # on the GPU
    python benchmarks/fast_modes_gpu.py --tiny --out DIR   # CPU smoke test with the tiny stand-in
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch

from stdiff_gpu import NEGATIVE, PROMPT, env_info, synthetic_chunk

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


class Table:
    def __init__(self, out: Path, tiny: bool):
        self.out = out
        self.res: dict = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "rows": [], "tiny": tiny,
                          "host": platform.node()}
        self.ref: dict[str, torch.Tensor] = {}

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "fast_modes_gpu.json").write_text(json.dumps(self.res, indent=2, default=str))


def compare(a: dict, b: dict) -> dict:
    from pytorch_msssim import ssim

    dz = (a["z"] - b["z"]).abs()
    fa, fb = a["frames"], b["frames"]
    mse = ((fa - fb) ** 2).mean().item()
    p = float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()
    s = ssim(fa.permute(0, 3, 1, 2), fb.permute(0, 3, 1, 2), data_range=1.0, size_average=True).item()
    return {"latent_max_abs": dz.max().item(), "latent_mean_abs": dz.mean().item(), "psnr": p, "ssim": s}


def make(model_dir: Path, device: torch.device, text_dim: int | None, **over):
    """text_dim None: a real model directory, whose own text encoder encodes the prompts."""
    from worldwarp.diffusion.settings import StDiffSettings
    from worldwarp.diffusion.stdiff import StDiffDenoiser

    s = StDiffSettings(model_dir=str(model_dir), prompt=PROMPT, negative_prompt=NEGATIVE, **{"attention": "native", **over})
    den = StDiffDenoiser(s, device)
    if text_dim is None:
        return den
    g = torch.Generator().manual_seed(1)
    den.prompts.put(PROMPT, torch.randn(s.text_len, text_dim, generator=g) * 0.1)
    den.prompts.put(NEGATIVE, torch.randn(s.text_len, text_dim, generator=g) * 0.1)
    return den


def run(tab: Table, name: str, den, chunk, *, steps: int, warmup: bool = False, set_: dict | None = None,
        ref: str | None = "eager", also: tuple[str, ...] = ("compiled",)) -> dict | None:
    warped, mask = chunk
    for k, v in (set_ or {}).items():
        setattr(den.s, k, v)
    den.s.steps = steps
    rec: dict = {"name": name, "steps": steps, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in (set_ or {}).items()}}
    try:
        t = time.perf_counter()
        r = den(warped, mask, 5, seed=0, progress=False)
        rec["wall_s"] = time.perf_counter() - t
        rec.update({k: v for k, v in r.info.items() if k in ("encode_s", "loop_s", "decode_s", "forwards",
                                                              "guided_forwards", "cached_forwards", "loop_peak_gib")})
        out = {"z": r.latents["z_out"].float().cpu(), "frames": r.frames[5:].float().cpu().clamp(0, 1)}
        if warmup:
            rec["warmup"] = True
        else:
            if name in ("eager", "compiled"):
                tab.ref[name] = out
            for other in ((ref,) if ref else ()) + also:
                if other in tab.ref and other != name:
                    rec[f"vs_{other}"] = compare(out, tab.ref[other])
            rec["_out"] = out
        log(f"{name}: {rec.get('wall_s', 0):.2f}s loop {rec.get('loop_s', 0):.2f}s "
            f"fwd {rec.get('forwards')} cached {rec.get('cached_forwards')} "
            + " ".join(f"{k} psnr {v['psnr']:.2f} ssim {v['ssim']:.4f} max {v['latent_max_abs']:.4f}"
                       for k, v in rec.items() if k.startswith("vs_")))
    except Exception as e:  # record and go on: the run cannot be debugged interactively
        rec["error"] = f"{type(e).__name__}: {e}"
        rec["traceback"] = traceback.format_exc()[-3000:]
        log(f"{name} FAILED: {rec['error'][:300]}")
    out = rec.pop("_out", None)
    tab.res["rows"].append(rec)
    tab.save()
    return {"rec": rec, "out": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench_out"))
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--thresholds", default="0.05,0.1,0.2")
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="a real Wan2.1 / ST-Diff directory (diffusers layout) instead of random weights; real prompts")
    ap.add_argument("--quick", action="store_true", help="only compiled and CFG on an interval (a compile-mode check)")
    ap.add_argument("--cfg-device", default=None, help="only eager, compiled, and compiled with the unconditional half "
                    "on this second device (diffusion.cfg_device, e.g. cuda:1); with --fa4 both on FA4")
    ap.add_argument("--fa4", action="store_true", help="only eager, compiled, and compiled on FlashAttention-4 kernels "
                    "(diffusion.attention=fa4; needs the flash-attn-4 package), the last twice")
    a = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not a.tiny else "cpu")
    tab = Table(a.out, a.tiny)
    tab.res["env"] = env_info(device)
    from worldwarp.diffusion import standins

    tcfg, vcfg = (standins.TINY_TRANSFORMER, standins.TINY_VAE) if a.tiny else (standins.WAN21_1_3B, standins.WAN21_VAE)
    H, W, F = (64, 96, 9) if a.tiny else (480, 720, 49)
    tab.res["size"] = {"H": H, "W": W, "frames": F, "history": 5}
    chunk = synthetic_chunk(F, H, W, history=5)
    if a.model_dir:
        tmp, text_dim = a.model_dir, None
    else:
        tmp, text_dim = Path(tempfile.mkdtemp(prefix="wan_random_")), tcfg["text_dim"]
        standins.build_wan_dir(tmp, tcfg, vcfg, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32,
                               device=device, text=False)
    tab.res["model"] = str(a.model_dir) if a.model_dir else "random weights"
    gc.collect()
    steps = 50 if not a.tiny else 6
    few = (30, 25) if not a.tiny else (4, 3)

    if not a.quick:
        eager = make(tmp, device, text_dim, compile=False)
        run(tab, "eager-warmup", eager, chunk, steps=2, warmup=True)
        run(tab, "eager", eager, chunk, steps=steps, ref=None, also=())
        del eager
    gc.collect()
    torch.cuda.empty_cache() if device.type == "cuda" else None

    den = make(tmp, device, text_dim, compile=device.type == "cuda")
    t = time.perf_counter()
    run(tab, "compiled-warmup", den, chunk, steps=2, warmup=True)
    tab.res["compile_warmup_s"] = time.perf_counter() - t
    run(tab, "compiled", den, chunk, steps=steps, also=())
    if a.cfg_device:
        split_cfg(tab, den, tmp, device, text_dim, chunk, steps, a.cfg_device, "fa4" if a.fa4 else "native")
        return
    if a.fa4:
        flash_attention_4(tab, den, tmp, device, text_dim, chunk, steps)
        return
    # the unguided (batch 1) graph compiles on the first unguided step: the warm-up must have one. With 4 steps the
    # levels are 1, 0.9, 0.75, 0.5, all inside [0.5, 1]; until 2026-11-25 it had none, so the timed CFG-interval rows
    # below paid that compile (≈ 7.5 s; docs/BENCHMARKS.md §12)
    run(tab, "compiled-warmup-batch1", den, chunk, steps=4, warmup=True, set_={"guidance_interval": (0.95, 1.0)})
    run(tab, "cfg-interval-0.5", den, chunk, steps=steps, set_={"guidance_interval": (0.5, 1.0)})
    den.s.guidance_interval = (0.0, 1.0)
    if a.quick:
        tab.save()
        return
    for n in few:
        run(tab, f"steps-{n}", den, chunk, steps=n)
    den.bb.vae.to(torch.bfloat16)
    run(tab, "vae-bf16", den, chunk, steps=steps)
    run(tab, "vae-bf16+cfg-interval-0.5+steps-30", den, chunk, steps=few[0], set_={"guidance_interval": (0.5, 1.0)})
    den.s.guidance_interval = (0.0, 1.0)
    del den
    gc.collect()
    torch.cuda.empty_cache() if device.type == "cuda" else None

    from worldwarp.diffusion.step_cache import SkipCounter

    thresholds = [float(x) for x in a.thresholds.split(",")]
    fb = make(tmp, device, text_dim, compile=device.type == "cuda", step_cache="first_block",
              step_cache_threshold=thresholds[0])
    hook = SkipCounter(fb.bb.transformer).hook  # the leader block's hook: its threshold is read at every step
    t = time.perf_counter()
    run(tab, "fbcache-warmup", fb, chunk, steps=4, warmup=True)
    tab.res["fbcache_compile_warmup_s"] = time.perf_counter() - t
    first = None
    for th in thresholds:
        hook.threshold = th  # read on the host at every step: no recompile
        r = run(tab, f"fbcache-{th}", fb, chunk, steps=steps, set_={"step_cache_threshold": th})
        first = first or r
    hook.threshold = thresholds[0]
    again = run(tab, f"fbcache-{thresholds[0]}-again", fb, chunk, steps=steps)
    if first and again and first["out"] is not None and again["out"] is not None:
        tab.res["fbcache_rerun_bitwise_equal"] = bool(torch.equal(first["out"]["z"], again["out"]["z"]))
    fb.bb.vae.to(torch.bfloat16)
    hook.threshold = thresholds[1] if len(thresholds) > 1 else thresholds[0]
    run(tab, f"vae-bf16+fbcache-{hook.threshold}+cfg-interval-0.5", fb, chunk, steps=steps,
        set_={"guidance_interval": (0.5, 1.0), "step_cache_threshold": hook.threshold})
    tab.res["total_s"] = time.perf_counter() - T0
    tab.save()
    print(json.dumps({r["name"]: {k: v for k, v in r.items() if k not in ("name", "traceback")} for r in tab.res["rows"]},
                     indent=1, default=str))


def split_cfg(tab: Table, den, tmp: Path, device: torch.device, text_dim: int | None, chunk, steps: int,
              cfg_device: str, attention: str) -> None:
    """The compiled default with CFG's unconditional half on a second device (diffusion.cfg_device)."""
    del den
    gc.collect()
    torch.cuda.empty_cache() if device.type == "cuda" else None
    split = make(tmp, device, text_dim, compile=device.type == "cuda", cfg_device=cfg_device, attention=attention)
    t = time.perf_counter()
    run(tab, "cfg-split-warmup", split, chunk, steps=2, warmup=True)
    tab.res["cfg_split_warmup_s"] = time.perf_counter() - t
    run(tab, f"compiled+cfg-split({cfg_device},{attention})", split, chunk, steps=steps)
    run(tab, "cfg-split-warmup-batch1", split, chunk, steps=4, warmup=True, set_={"guidance_interval": (0.95, 1.0)})
    run(tab, "cfg-split+cfg-interval-0.5", split, chunk, steps=steps, set_={"guidance_interval": (0.5, 1.0)})
    tab.res["total_s"] = time.perf_counter() - T0
    tab.save()


def flash_attention_4(tab: Table, den, tmp: Path, device: torch.device, text_dim: int | None, chunk, steps: int) -> None:
    """The compiled default on FlashAttention-4 kernels (diffusion.attention=fa4), run twice (deterministic?)."""
    del den
    gc.collect()
    torch.cuda.empty_cache()
    fa4 = make(tmp, device, text_dim, compile=True, attention="fa4")
    t = time.perf_counter()
    run(tab, "fa4-warmup", fa4, chunk, steps=2, warmup=True)
    tab.res["fa4_compile_warmup_s"] = time.perf_counter() - t
    first = run(tab, "compiled+fa4", fa4, chunk, steps=steps)
    again = run(tab, "compiled+fa4-again", fa4, chunk, steps=steps)
    if first and again and first["out"] is not None and again["out"] is not None:
        tab.res["fa4_rerun_bitwise_equal"] = bool(torch.equal(first["out"]["z"], again["out"]["z"]))
    tab.res["total_s"] = time.perf_counter() - T0
    tab.save()


if __name__ == "__main__":
    main()
