"""lowvram vs the default mode: per-stage peak GPU memory, the process's whole footprint, and chunk times, for the
full-weights pipeline of docs/WEIGHTS.md (TTT3R estimator, umT5-XXL text encoder, Qwen2.5-VL-7B captioning every
chunk, Wan2.1-1.3B ST-Diff) at full size with random weights (issue 28 item 3: lowvram within 12 GiB, ≤ 1.5x time).

Each mode runs in its own process, so its footprint is its own: nvidia-smi's per-process figure (CUDA context
included), sampled every 0.2 s, beside the allocator's peaks (torch), per segment of the run: each stage of each
chunk, and inside denoise the caption, the text encoder and the rest (transformer + VAE). A mode with a cap runs
under ``torch.cuda.set_per_process_memory_fraction`` = (cap - the context's own footprint) / device memory, so an
overrun of the allocator fails the run (recorded as such); the footprint is compared with the cap as well.

    # GPU (carry .whl with torchao and .gsplat: benchmarks/carry_wheels.sh); weights are built once into --weights
    python benchmarks/lowvram_gpu.py --out DIR --weights .lowvram_weights [--modes default,lowvram] [--chunks 2]
        [--steps 50] [--cap lowvram=12] [--set knob=value ...]
    # CPU, tiny stand-ins: the same code path, plus the measured effect of int8 on embeddings and captions
    python benchmarks/lowvram_gpu.py --tiny --out DIR
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

GIB = 2**30
TINY_RUN = ["resolution.height=64", "resolution.width=96", "chunk.frames=9", "chunk.history=3", "splat.steps=5",
            "trajectory.distance=0.6", "estimator.ttt3r_size=64", "prompt.max_new_tokens=6"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%X')}] {msg}", flush=True)


# ---- weights ----

def build_weights(root: Path, tiny: bool) -> dict[str, str]:
    """Random-weight model folders (skipped when already there: a warm machine keeps git-ignored folders)."""
    root.mkdir(parents=True, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    paths = {"wan": root / "wan", "qwen": root / "qwen2.5-vl", "ttt3r": root / "ttt3r" / "cut3r_512_dpt_4_64.pth"}
    steps = {"wan": _wan, "qwen": _qwen, "ttt3r": _ttt3r}
    for name, path in paths.items():
        done = path.parent / f".{path.name}.done"
        if not done.exists():
            t = time.perf_counter()
            steps[name](path, tiny, dev)
            done.write_text(str(time.perf_counter() - t))
            log(f"built {name} in {time.perf_counter() - t:.0f} s")
        if dev == "cuda":
            torch.cuda.empty_cache()
    return {k: str(v) for k, v in paths.items()}


def _wan(path: Path, tiny: bool, dev: str) -> None:
    from worldwarp.diffusion import standins as s

    if tiny:
        s.build_tiny_wan(path)
        return
    s.build_wan_dir(path, s.WAN21_1_3B, s.WAN21_VAE, dtype=torch.bfloat16, device=dev, text=False)
    s.save_tiny_text(path, s.UMT5_XXL, device=dev, dtype=torch.bfloat16)  # the small word-level tokenizer


def _qwen(path: Path, tiny: bool, dev: str) -> None:
    from worldwarp.prompts import standins as s

    if tiny:
        s.build_tiny_qwen2_5_vl(path)
        return
    s.build_qwen2_5_vl_dir(path, s.QWEN25_VL_7B_TEXT, s.QWEN25_VL_7B_VISION, s.QWEN25_VL_7B_IMAGE, device=dev,
                           dtype=torch.bfloat16)


def _ttt3r(path: Path, tiny: bool, dev: str) -> None:
    from worldwarp.estimators.ttt3r import RELEASED, TINY, save_release_format
    from worldwarp.estimators.ttt3r.standin import tiny_model

    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.device(dev):  # random init on the GPU: ~800M parameters on the CPU take minutes
        model = tiny_model(0, TINY if tiny else RELEASED)
    save_release_format(model.cpu(), path)


# ---- the process's footprint ----

def smi_footprint_mib() -> float | None:
    """This process's GPU memory as nvidia-smi lists it; in a container that hides host pids, the sum over the
    listed processes (the benchmark is alone on its GPU)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    rows = [[int(x) for x in line.split(",")] for line in out.strip().splitlines() if line.strip()]
    mine = [mib for pid, mib in rows if pid == os.getpid()]
    return float(mine[0]) if mine else (float(sum(mib for _, mib in rows)) if rows else None)


class Sampler(threading.Thread):
    """Polls ``smi_footprint_mib``; ``take()`` gives the peak since the last take."""

    def __init__(self, period_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.period_s, self.peak, self.overall, self.stop = period_s, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            mib = smi_footprint_mib() or 0.0
            self.peak, self.overall = max(self.peak, mib), max(self.overall, mib)
            self.stop.wait(self.period_s)

    def take(self) -> float:
        peak, self.peak = max(self.peak, smi_footprint_mib() or 0.0), 0.0
        return peak


class Meter:
    """Peaks per named segment of the run. The denoiser resets torch's peak counters at its own phases; those
    resets are folded into the open segment first (``fold``), so a segment's peak survives them."""

    def __init__(self, cuda: bool) -> None:
        self.cuda, self.rows, self.name, self.t0 = cuda, [], None, 0.0
        self.alloc = self.reserved = 0
        self.sampler = Sampler() if cuda else None
        if cuda:
            self.sampler.start()
            real_reset = torch.cuda.reset_peak_memory_stats

            def folding_reset(device=None):
                self.fold()
                real_reset(device)
            torch.cuda.reset_peak_memory_stats = folding_reset

    def fold(self) -> None:
        if self.cuda:
            self.alloc = max(self.alloc, torch.cuda.max_memory_allocated())
            self.reserved = max(self.reserved, torch.cuda.max_memory_reserved())

    def mark(self, name: str | None) -> None:
        """Close the open segment and open ``name`` (None: close only)."""
        if self.name is not None:
            if self.cuda:
                torch.cuda.synchronize()
            self.fold()
            row = {"segment": self.name, "s": time.perf_counter() - self.t0}
            if self.cuda:
                row.update(alloc_gib=self.alloc / GIB, reserved_gib=self.reserved / GIB,
                           footprint_gib=self.sampler.take() / 1024)
            self.rows.append(row)
        self.name, self.t0, self.alloc, self.reserved = name, time.perf_counter(), 0, 0
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()


def _instrument(meter: Meter) -> None:
    """Sub-segments of denoise, in its order: the caption; the denoiser's load (first chunk) and VAE encode; the
    text encoder; the transformer loop and VAE decode."""
    from stages import denoise
    from worldwarp.diffusion.text import PromptEncoder

    resolve, many = denoise.resolve_prompt, PromptEncoder.many

    def within(stage_part: str, after: str, fn):
        def wrapped(*a, **kw):
            base = meter.name.split("/")[0]
            meter.mark(f"{base}/denoise/{stage_part}")
            try:
                return fn(*a, **kw)
            finally:
                meter.mark(f"{base}/denoise/{after}")
        return wrapped
    denoise.resolve_prompt = within("caption", "vae-encode", resolve)
    PromptEncoder.many = within("text", "transformer+vae-decode", many)


# ---- one mode, in its own process ----

def _cap(cap_gib: float | None) -> dict:
    """Start CUDA, measure the context's own footprint, cap the allocator so the whole stays under ``cap_gib``."""
    torch.zeros(1, device="cuda")
    (torch.ones(64, 64, device="cuda") @ torch.ones(64, 64, device="cuda")).sum().item()  # cuBLAS in the context
    context = smi_footprint_mib() or 0.0
    out = {"context_mib": context, "device_gib": torch.cuda.get_device_properties(0).total_memory / GIB}
    if cap_gib:
        fraction = (cap_gib * 1024 - context) / (out["device_gib"] * 1024)
        torch.cuda.set_per_process_memory_fraction(fraction, 0)
        out["fraction"] = fraction
    return out


def _config(a, weights: dict, mode: str, artifacts: Path):
    from worldwarp.config import load_params

    knobs = [f"artifacts={artifacts}", "tracking.mlflow=false", "profile=official", "diffusion.backend=stdiff",
             f"diffusion.model_dir={weights['wan']}", f"diffusion.steps={a.steps}",
             f"diffusion.prompt_cache={artifacts / 'prompts'}", f"prompt.captioner_dir={weights['qwen']}",
             "prompt.per_chunk=true", f"prompt.cache_dir={artifacts / 'captions'}", "estimator.backend=ttt3r",
             f"estimator.model_dir={weights['ttt3r']}", f"chunk.count={a.chunks}",
             *(TINY_RUN if a.tiny else []), *(["lowvram=true"] if mode == "lowvram" else []), *a.extra]
    return load_params(ROOT / "params.yaml", knobs)


def measure(a, mode: str) -> dict:
    import tempfile

    from stages.runner import run_longshot

    weights = json.loads(a.weights_json)
    cuda = torch.cuda.is_available() and not a.tiny
    cap = dict(x.split("=") for x in a.cap.split(",") if x).get(mode)
    res: dict = {"mode": mode, "cap_gib": float(cap) if cap else None, "ok": False, "error": None}
    if cuda:
        res.update(_cap(res["cap_gib"]))
    meter = Meter(cuda)
    _instrument(meter)
    chunk_t: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        cfg = _config(a, weights, mode, Path(d))
        res["knobs"] = {"lowvram": cfg.lowvram, **{k: getattr(cfg.diffusion, k) for k in
                        ("offload", "vae_tiling", "keep_text_encoder", "text_encoder_quantize", "compile")},
                        "prompt.quantize": cfg.prompt.quantize}
        t0 = time.perf_counter()
        try:
            run_longshot(cfg, f"lowvram-{mode}", on_stage=lambda k, s: (meter.mark(f"{k}/{s}"), log(f"{mode} {k} {s}")),
                         on_chunk=lambda k: chunk_t.append(time.perf_counter() - t0))
            res["ok"] = True
        except torch.OutOfMemoryError as e:  # the cap did its job: an overrun fails the run
            res["error"] = f"out of memory in {meter.name}: {str(e).splitlines()[0]}"
        except Exception as e:  # noqa: BLE001 - anything else is reported with what was measured before it
            res["error"] = f"{type(e).__name__} in {meter.name}: {(str(e).splitlines() or [''])[0][:300]}"
        finally:
            meter.mark(None)
    res["segments"] = meter.rows
    res["chunk_s"] = [t - (chunk_t[i - 1] if i else 0.0) for i, t in enumerate(chunk_t)]
    if cuda:
        res["footprint_peak_gib"] = meter.sampler.overall / 1024
        res["within_cap"] = res["cap_gib"] is None or res["footprint_peak_gib"] <= res["cap_gib"]
    return res


# ---- the effect of int8 on the prompt models (tiny stand-ins, CPU) ----

def quant_effect(weights: dict, n_images: int = 20) -> dict:
    """Relative error of int8 text embeddings, and how many captions int8 leaves unchanged."""
    import tempfile

    from worldwarp.diffusion.text import PromptEncoder
    from worldwarp.prompts import Captioner

    prompts = ["a photorealistic scene, steady camera motion, high detail", "a forest road at night with light",
               "blurry, distorted, low quality, static, watermark", "a city street in the day"]
    with tempfile.TemporaryDirectory() as d:
        exact, int8 = (PromptEncoder(weights["wan"], d, quantize=q) for q in ("none", "int8"))
        rel = [float((exact(p) - int8(p)).norm() / exact(p).norm()) for p in prompts]
        kw = dict(instruction="Describe this scene.", max_new_tokens=32)
        c0, c1 = (Captioner.from_pretrained(weights["qwen"], cache_dir=Path(d) / q, quantize=q, **kw)
                  for q in ("none", "int8"))
        images = [torch.rand(40, 56, 3, generator=torch.Generator().manual_seed(s)) for s in range(n_images)]
        same = sum(c0.caption(im) == c1.caption(im) for im in images)
    return {"embedding_rel_l2": rel, "captions_equal": same, "captions": n_images, "max_new_tokens": 32}


# ---- report ----

ORDER = ("geometry", "gaussians", "warp", "denoise", "denoise/caption", "denoise/vae-encode", "denoise/text",
         "denoise/transformer+vae-decode", "handoff")

def table(results: list[dict]) -> str:
    """Per stage (max over chunks): allocator peak / reserved / process footprint in GiB, per mode."""
    parts = [p for p in ORDER if any(r["segment"].split("/", 1)[1] == p for res in results for r in res["segments"])]
    head = "| segment | " + " | ".join(f"{res['mode']}: alloc / reserved / footprint GiB, s" for res in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for part in parts:
        cells = []
        for res in results:
            rows = [r for r in res["segments"] if r["segment"].split("/", 1)[1] == part]
            if not rows or "alloc_gib" not in rows[0]:
                cells.append(f"{max((r['s'] for r in rows), default=0):.2f} s")
                continue
            cells.append(" / ".join(f"{max(r[k] for r in rows):.2f}" for k in ("alloc_gib", "reserved_gib",
                                                                             "footprint_gib"))
                         + f", {max(r['s'] for r in rows):.1f} s")
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _child(a, mode: str) -> dict:
    out = a.out / f"lowvram_{mode}.json"
    cmd = [sys.executable, __file__, "--measure", mode, "--out", str(a.out), "--weights-json", a.weights_json,
           "--chunks", str(a.chunks), "--steps", str(a.steps), "--cap", a.cap, *(["--tiny"] if a.tiny else []),
           *[x for e in a.extra for x in ("--set", e)]]
    rc = subprocess.run(cmd).returncode
    if not out.exists():
        return {"mode": mode, "ok": False, "error": f"the measuring process exited {rc} before writing", "segments": []}
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tiny", action="store_true", help="tiny stand-ins on the CPU (the code path, not the numbers)")
    ap.add_argument("--weights", type=Path, default=ROOT / ".lowvram_weights", help="where the random models go")
    ap.add_argument("--modes", default="default,lowvram")
    ap.add_argument("--chunks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--cap", default="lowvram=12", help="mode=GiB,...: allocator cap so an overrun fails the run")
    ap.add_argument("--set", dest="extra", action="append", default=[])
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--weights-json", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.measure:  # the child: one mode
        res = measure(a, a.measure)
        (a.out / f"lowvram_{a.measure}.json").write_text(json.dumps(res, indent=1))
        return
    if a.tiny and a.steps == 50:
        a.steps, a.chunks = 2, 3
    # built in a child too: the parent never holds GPU memory while the modes are measured
    subprocess.run([sys.executable, "-c", f"import sys; sys.argv=['x']; sys.path.insert(0, {str(ROOT)!r}); "
                    f"from benchmarks.lowvram_gpu import build_weights; build_weights(__import__('pathlib')."
                    f"Path({str(a.weights)!r}), {a.tiny})"], check=True)
    weights = {"wan": str(a.weights / "wan"), "qwen": str(a.weights / "qwen2.5-vl"),
               "ttt3r": str(a.weights / "ttt3r" / "cut3r_512_dpt_4_64.pth")}
    a.weights_json = json.dumps(weights)
    results = [_child(a, mode) for mode in a.modes.split(",")]
    summary = {"date": datetime.date.today().isoformat(), "torch": torch.__version__, "tiny": a.tiny,
               "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not a.tiny
               else platform.processor() or platform.machine(), "chunks": a.chunks, "steps": a.steps,
               "modes": results}
    if a.tiny:
        summary["int8_effect"] = quant_effect(weights)
    (a.out / "lowvram_gpu.json").write_text(json.dumps(summary, indent=1))
    print(table(results))
    for res in results:
        print(json.dumps({k: res.get(k) for k in ("mode", "ok", "error", "cap_gib", "context_mib",
                                                   "footprint_peak_gib", "within_cap", "chunk_s")}))
    if a.tiny:
        print(json.dumps(summary["int8_effect"]))


if __name__ == "__main__":
    main()
