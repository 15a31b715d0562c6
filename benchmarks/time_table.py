"""One Wan transformer forward with and without the time-embedding table (``diffusion.time_table``).

The timesteps are those of the tokenwise sampler (a few levels per step: history 0, warped tokens held at
sigma_start, holes on the schedule), each forward taking one step's row of the precomputed matrix, batch 2 (CFG)
by default, as the loop calls it. Stock and table forwards alternate on the same rows (a copy of a row takes the
stock path), so a busy machine slows both alike. Prints median wall and process CPU time per forward, the condition
embedder's time (through hooks), the first forward (the table's one-off build) and the output difference, with
the machine.

    python benchmarks/time_table.py                          # CPU: 1.3B widths, 2 blocks, 13 frames at 256x384
    python benchmarks/time_table.py --device cuda --model-dir random-1.3b   # full size, 49 frames at 480x720
    python benchmarks/time_table.py --device cuda --model-dir /path/to/Wan2.1-T2V-1.3B-Diffusers

``random-1.3b`` builds Wan2.1-T2V-1.3B's transformer from its released config with random weights (speed does not
depend on them) and, like ``from_pretrained(torch_dtype=...)``, keeps diffusers' ``_keep_in_fp32_modules``
(time_embedder among them) in float32; ``--cast-all`` casts everything instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def machine(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores ({torch.get_num_threads()} torch threads), torch {torch.__version__}"


def build(model_dir: str, layers: int | None, dtype: torch.dtype, dev: torch.device, cast_all: bool):
    from diffusers import WanTransformer3DModel
    from diffusers.utils import logging

    logging.set_verbosity_error()  # the cast warning: the fp32 modules are restored below, as from_pretrained does
    if model_dir != "random-1.3b":
        d = Path(model_dir)
        sub = "transformer" if (d / "transformer").is_dir() else None
        if not (d / (sub or ".") / "config.json").is_file():
            raise SystemExit(f"error: no Wan transformer under {d} (expected transformer/config.json)")
        return WanTransformer3DModel.from_pretrained(d, subfolder=sub, torch_dtype=dtype).to(dev).eval()
    from worldwarp.diffusion.standins import WAN21_1_3B

    cfg = dict(WAN21_1_3B, **({} if layers is None else {"num_layers": layers}))
    torch.manual_seed(0)
    with torch.device(dev):
        tr = WanTransformer3DModel(**cfg).to(dtype).eval()
    keep = set(() if cast_all else tr._keep_in_fp32_modules)
    for name, mod in tr.named_modules():
        if keep & set(name.split(".")):
            mod.float()  # as from_pretrained(torch_dtype=...) leaves them
    return tr


def step_matrix(T: int, h: int, w: int, steps: int, dev: torch.device) -> torch.Tensor:
    """(steps, tokens) timesteps of the tokenwise sampler on a random valid/hole/history layout."""
    from worldwarp.diffusion.schedule import NUM_TRAIN_TIMESTEPS, global_sigmas, token_levels

    g = torch.Generator().manual_seed(0)
    sigma0 = torch.tensor([0.8, 1.0], dtype=torch.float64)[torch.randint(2, (T, h // 2, w // 2), generator=g)]
    sigma0[: max(T // 4, 1)] = 0.0  # history latent frames
    levels = token_levels(sigma0.flatten(), global_sigmas(steps, 3.0))
    return (levels[:-1] * NUM_TRAIN_TIMESTEPS).float().to(dev)


class Clock:
    """Wall time of the condition embedder, through forward hooks (CUDA events on the GPU)."""

    def __init__(self, module: torch.nn.Module, dev: torch.device) -> None:
        self.cuda, self.spans = dev.type == "cuda", []
        module.register_forward_pre_hook(lambda *_: self._mark())
        module.register_forward_hook(lambda *_: self._mark())

    def _mark(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.spans.append(ev)
        else:
            self.spans.append(time.perf_counter())

    def take(self) -> float:
        """Seconds inside the embedder since the last take."""
        a, self.spans = self.spans, []
        if self.cuda:
            return sum(s.elapsed_time(e) for s, e in zip(a[::2], a[1::2])) / 1e3
        return sum(e - s for s, e in zip(a[::2], a[1::2]))


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def forward(tr, timestep: torch.Tensor, x: torch.Tensor, ctx: torch.Tensor, dev: torch.device):
    sync(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        out = tr(hidden_states=x, timestep=timestep.expand(x.shape[0], -1), encoder_hidden_states=ctx,
                 return_dict=False)[0]
    sync(dev)
    return time.perf_counter() - t0, time.process_time() - c0, out.float().cpu()


def run(tr, t_all: torch.Tensor, x: torch.Tensor, ctx: torch.Tensor, reps: int, clock: Clock, dev) -> dict:
    """Stock and table forwards interleaved on the same step rows (fair under a busy machine): a step's row taken
    as a view of the matrix is served by the table, a copy of it takes the stock path. Round 0 is the warm-up
    (and the table's build)."""
    from worldwarp.diffusion.time_table import time_table

    res: dict = {k: {"forward_s": [], "cpu_s": [], "embedder_s": []} for k in ("stock", "table")}
    diff = 0.0
    with time_table(tr, t_all) as table:
        for i in range(reps + 1):
            row = t_all[i].reshape(1, -1)  # as sampler._velocity passes it
            outs = {}
            for name in (("stock", "table") if i % 2 else ("table", "stock")):
                sec, cpu, outs[name] = forward(tr, row if name == "table" else row.clone(), x, ctx, dev)
                res[name]["forward_s"].append(sec)
                res[name]["cpu_s"].append(cpu)
                res[name]["embedder_s"].append(clock.take())
            diff = max(diff, float((outs["table"] - outs["stock"]).abs().max()))
    for r in res.values():
        r["first_s"] = r["forward_s"].pop(0)
        r["embedder_s"].pop(0)
        r["cpu_s"].pop(0)
        r["median_s"] = statistics.median(r["forward_s"])
        r["cpu_median_s"] = statistics.median(r["cpu_s"])
        r["embedder_median_s"] = statistics.median(r["embedder_s"])
    res.update(max_abs_diff=diff, distinct_levels=len(table.values), table_forwards=table.table_forwards)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--model-dir", default="random-1.3b", help="Wan diffusers dir, or random-1.3b")
    ap.add_argument("--layers", type=int, help="blocks of random-1.3b (default: 2 on the CPU, all 30 on CUDA)")
    ap.add_argument("--dtype", default="auto", choices=["auto", *DTYPES], help="auto: bfloat16 on CUDA, float32 on CPU")
    ap.add_argument("--cast-all", action="store_true", help="random-1.3b: cast time_embedder etc. too")
    ap.add_argument("--frames", type=int, help="default 13 on the CPU, 49 on CUDA")
    ap.add_argument("--height", type=int, help="default 256 on the CPU, 480 on CUDA")
    ap.add_argument("--width", type=int, help="default 384 on the CPU, 720 on CUDA")
    ap.add_argument("--batch", type=int, default=2, choices=[1, 2], help="2 = a CFG step")
    ap.add_argument("--text-len", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch sees no CUDA device")
    gpu = dev.type == "cuda"
    layers = a.layers if a.layers is not None else (None if gpu else 2)
    F, H, W = a.frames or (49 if gpu else 13), a.height or (480 if gpu else 256), a.width or (720 if gpu else 384)
    if (F - 1) % 4 or H % 16 or W % 16:
        raise SystemExit("error: frames must be 4k+1, height and width multiples of 16")
    dtype = DTYPES[a.dtype] if a.dtype != "auto" else (torch.bfloat16 if gpu else torch.float32)

    tr = build(a.model_dir, layers, dtype, dev, a.cast_all)
    T, h, w = (F - 1) // 4 + 1, H // 8, W // 8
    t_all = step_matrix(T, h, w, 50, dev)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(a.batch, tr.config.in_channels, T, h, w, generator=g).to(dev, dtype)
    ctx = torch.randn(a.batch, a.text_len, tr.config.text_dim, generator=g).to(dev, dtype)
    res = run(tr, t_all, x, ctx, a.reps, Clock(tr.condition_embedder, dev), dev)
    te_dtype = next(tr.condition_embedder.time_embedder.parameters()).dtype
    res.update(date=time.strftime("%Y-%m-%d"), machine=machine(dev), model=a.model_dir, layers=tr.config.num_layers,
               dtype=str(dtype).removeprefix("torch."), time_embedder_dtype=str(te_dtype).removeprefix("torch."),
               frames_hw=[F, H, W], tokens=t_all.shape[1], batch=a.batch)
    report(res, a.reps)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


def report(res: dict, reps: int) -> None:
    F, H, W = res["frames_hw"]
    print(f"{res['machine']}\n{res['model']}, {res['layers']} blocks, {res['dtype']} (time_embedder "
          f"{res['time_embedder_dtype']}), {F} frames at {H}x{W} = {res['tokens']} tokens, batch {res['batch']}, "
          f"{res['distinct_levels']} distinct levels over 50 steps; median of {reps}, stock and table interleaved")
    for name in ("stock", "table"):
        r = res[name]
        print(f"  {name}: forward {r['median_s'] * 1e3:9.1f} ms (min {min(r['forward_s']) * 1e3:.1f}), condition "
              f"embedder {r['embedder_median_s'] * 1e3:8.1f} ms, first forward {r['first_s'] * 1e3:9.1f} ms, "
              f"process CPU time {r['cpu_median_s'] * 1e3:.1f} ms")
    s, t = res["stock"], res["table"]
    print(f"  table vs stock: forward {100 * (t['median_s'] / s['median_s'] - 1):+.1f} % (min "
          f"{100 * (min(t['forward_s']) / min(s['forward_s']) - 1):+.1f} %, CPU time "
          f"{100 * (t['cpu_median_s'] / s['cpu_median_s'] - 1):+.1f} %), embedder share of the stock forward "
          f"{100 * s['embedder_median_s'] / s['median_s']:.1f} %, output max |diff| {res['max_abs_diff']:.3g}")


if __name__ == "__main__":
    main()
