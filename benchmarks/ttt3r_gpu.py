"""GPU benchmark of TTT3R at the released size (cut3r_512_dpt_4_64 architecture) with random weights.

Builds the full-size network with the released checkpoint's exact key set, saves it in the released file format
and loads it back through the estimator's real loader (weights_only, memory-mapped), then estimates whole 49-frame
480x720 chunks (the history a WorldWarp chunk hands over) in float32 (as the authors run it), bfloat16 and float16,
recording seconds per chunk (after one warm-up chunk) and peak CUDA memory. Each configuration is guarded; the
JSON is rewritten after each one.

    python benchmarks/ttt3r_gpu.py --out DIR                 # writes DIR/ttt3r_gpu.json
    python benchmarks/ttt3r_gpu.py --tiny --out DIR          # CPU smoke test with the tiny stand-in
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from worldwarp.estimators.ttt3r import RELEASED, TINY, Ttt3rEstimator, save_release_format
from worldwarp.estimators.ttt3r.standin import tiny_model

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def frames(n: int, H: int, W: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, H // 16, W // 16 + n, generator=g)
    up = torch.nn.functional.interpolate(base, size=(H, W + 16 * n), mode="bicubic", align_corners=False).clamp(0, 1)
    return torch.stack([up[0, :, :, 16 * i:16 * i + W].permute(1, 2, 0) for i in range(n)])


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtypes", default="float32,bfloat16,float16")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    H, W, size, n = (48, 72, 64, 6) if args.tiny else (480, 720, 512, args.frames)
    res: dict = {"date": datetime.date.today().isoformat(), "device": torch.cuda.get_device_name() if dev == "cuda"
                 else platform.processor() or platform.machine(), "torch": torch.__version__, "frames": n,
                 "frame_size": [H, W], "input_size": size, "configs": []}
    out_json = args.out / "ttt3r_gpu.json"

    def save() -> None:
        out_json.write_text(json.dumps(res, indent=1))

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model = tiny_model(0, TINY if args.tiny else RELEASED) if args.tiny else None
        if model is None:  # random init straight on the GPU: ~800M parameters on the CPU take minutes
            with torch.device(dev):
                model = tiny_model(0, RELEASED)
        path = save_release_format(model, Path(tmp) / "cut3r_512_dpt_4_64.pth")
        del model
        res["params"] = sum(v.numel() for k, v in torch.load(path, mmap=True, weights_only=False)["model"].items()
                            if ".layer_rn." not in k)
        res["file_gib"] = path.stat().st_size / 2**30
        res["build_save_s"] = time.perf_counter() - t
        log(f"saved {res['params'] / 1e6:.0f}M parameters, {res['file_gib']:.2f} GiB")
        clip = frames(n, H, W)
        for dt in args.dtypes.split(","):
            if dev == "cpu" and dt != "float32":
                continue
            cfg: dict = {"dtype": dt}
            res["configs"].append(cfg)
            try:
                if dev == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                est = Ttt3rEstimator.from_pretrained(path, torch_dtype=dt, device=dev, size=size, batch_size=8,
                                                     progress=False)
                sync()
                cfg["load_s"] = time.perf_counter() - t
                times = []
                for r in range(args.repeats + 1):
                    t = time.perf_counter()
                    out = est.run(clip.to(dev))
                    sync()
                    times.append(time.perf_counter() - t)
                    log(f"{dt} chunk {r}: {times[-1]:.2f} s")
                cfg.update(warmup_s=times[0], chunk_s=statistics.median(times[1:]), per_frame_ms=1e3 *
                           statistics.median(times[1:]) / n, depth_finite=bool(torch.isfinite(out.depth).all()))
                if dev == "cuda":
                    cfg["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
                del est
            except Exception as e:  # noqa: BLE001 - recorded, the next configuration still runs
                cfg["error"] = f"{type(e).__name__}: {e}"
                traceback.print_exc()
            save()
    save()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
