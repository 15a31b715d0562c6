"""The whole chunk loop at full size on a GPU: stage work vs what the store and the loop add.

Runs stages.runner.run_longshot (no Prefect, no MLflow: those are measured on the CPU by
benchmarks/orchestration.py) on the procedural room at params.yaml's defaults (480x720, 49-frame
chunks, 500 3DGS steps, gsplat) with the classical filler, or with ``--stdiff``: the full-size Wan2.1-1.3B
transformer and VAE with random weights, saved in diffusers layout and loaded by the denoise stage's own
loader (50 steps, CFG; prompt embeddings random, the text encoder is never built). Per chunk: each stage's compute seconds (recorded by the stage),
wall seconds of the chunk, and the difference (store writes/reads, keys, handoff bookkeeping).

    python benchmarks/pipeline_gpu.py --out DIR [--set chunk.count=3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def _warm_gsplat() -> float | None:
    """gsplat compiles its CUDA kernels on first use (~2 min): pay that before timing chunk 0."""
    if not torch.cuda.is_available():
        return None
    from worldwarp.geometry.cameras import intrinsics_from_fov
    from worldwarp.splat import Gaussians, rasterize

    t0 = time.perf_counter()
    n = 64
    g = Gaussians(means=torch.randn(n, 3) * 0.1 + torch.tensor([0, 0, 3.0]), quats=torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                  scales=torch.full((n, 3), -3.0), opacities=torch.zeros(n), sh=torch.rand(n, 1, 3)).to("cuda")
    rasterize(g, intrinsics_from_fov(64, 64, 60)[None].cuda(), torch.eye(4)[None].cuda(), 64, 64, backend="gsplat")
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def _random_wan(out: Path) -> Path:
    from worldwarp.diffusion import standins

    return standins.build_wan_dir(out, standins.WAN21_1_3B, standins.WAN21_VAE, dtype=torch.bfloat16,
                                  device="cuda" if torch.cuda.is_available() else "cpu", text=False)


def _random_prompts(cfg) -> None:
    """Put random (text_len x 4096) embeddings for both prompts into the denoise stage's own denoiser."""
    from stages.common import resolve_device
    from stages.denoise import _denoiser

    den = _denoiser(cfg.diffusion.model_dump_json(), str(resolve_device(cfg)))
    g = torch.Generator().manual_seed(1)
    for p in (cfg.diffusion.prompt, cfg.diffusion.negative_prompt):
        den.prompts.put(p, torch.randn(cfg.diffusion.text_len, 4096, generator=g) * 0.1)


def _run(cfg, stdiff: bool, run_id: str, partial: Path | None = None) -> tuple[list[dict], float]:
    from stages import STAGES
    from stages.runner import MODULES, run_longshot
    from worldwarp.store.atomic import tree_nbytes

    if stdiff:
        _random_prompts(cfg)
    marks: list[tuple[int, str, float]] = []

    def on_stage(k: int, stage: str) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        marks.append((k, stage, time.perf_counter()))
        print(f"[{time.strftime('%X')}] {run_id} chunk {k} {stage}", flush=True)

    t0 = time.perf_counter()
    opened: list[Path] = []  # the store's path, once run_longshot has opened it
    progress: list[dict] = []

    def on_chunk(k: int) -> None:
        """What a run cut short by a time limit still reports: per chunk, its seconds and the store's size."""
        if partial is None:
            return
        now = time.perf_counter()
        start = next(t for kk, s, t in marks if kk == k)
        progress.append({"chunk": k, "wall_s": now - start, "elapsed_s": now - t0,
                         "store_mb": tree_nbytes(opened[0])[0] / 1e6})
        partial.write_text(json.dumps({"cfg_chunks": cfg.chunk.count, "chunks": progress}, indent=1))
        print(f"[{time.strftime('%X')}] chunk {k} done: {now - start:.1f} s, {now - t0:.1f} s so far, "
              f"store {progress[-1]['store_mb']} MB", flush=True)

    def on_open(store) -> None:
        opened.append(store.path)

    store = run_longshot(cfg, run_id, on_stage=on_stage, on_chunk=on_chunk, on_open=on_open)
    total = time.perf_counter() - t0
    marks.append((cfg.chunk.count, "end", time.perf_counter()))
    rows = []
    for k in range(cfg.chunk.count):
        t_start = next(t for kk, s, t in marks if kk == k and s == STAGES[0])
        t_end = next(t for kk, s, t in marks if kk == k + 1 and s in (STAGES[0], "end"))
        work = {s: store.stage_attrs(k, MODULES[s].GROUP)["compute_seconds"] for s in STAGES}
        wall = t_end - t_start
        rows.append({"chunk": k, "wall_s": wall, "work_s": sum(work.values()), "overhead_s": wall - sum(work.values()),
                     **{f"{s}_s": v for s, v in work.items()},
                     "gaussians": store.stage_attrs(k, "gaussians").get("count"),
                     "hole_fraction": store.stage_attrs(k, "warp").get("hole_fraction"),
                     "stored_mb": sum(store.stage_attrs(k, st).get("nbytes", 0) for st in store.stages(k)) / 1e6})
    rows[-1]["store_total_mb"] = tree_nbytes(store.path)[0] / 1e6
    rows[-1]["video_mb"] = tree_nbytes(store.path / "video")[0] / 1e6
    rows[-1]["video_layout"] = store.video_layout
    rows[-1]["frames"] = cfg.chunk.total_frames
    rows[-1]["mb_by_array"] = _bytes_by_array(store.path)
    if torch.cuda.is_available():
        rows[-1]["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return rows, total


def _bytes_by_array(path: Path) -> dict[str, float]:
    """MB on disk per stage/array summed over the chunks (where the store's bytes are)."""
    from worldwarp.store.atomic import tree_nbytes

    out: dict[str, float] = {}
    for arr in sorted(path.glob("chunks/*/*/*/")):
        if (arr / "zarr.json").is_file():
            name = f"{arr.parent.name}/{arr.name}"
            out[name] = out.get(name, 0.0) + tree_nbytes(arr)[0] / 1e6
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def _report(out_dir: Path, profile: str, cfg, rows: list[dict], total: float, machine: dict) -> None:
    """Write and print one profile's figures as soon as it finishes (a later profile may not)."""
    from stages import STAGES

    out = {"date": datetime.date.today().isoformat(), "torch": torch.__version__, **machine, "profile": profile,
           "resolution": [cfg.resolution.height, cfg.resolution.width], "chunk_frames": cfg.chunk.frames,
           "splat": cfg.splat.model_dump(mode="json"), "denoiser": cfg.diffusion.backend,
           "diffusion": cfg.diffusion.model_dump(mode="json", exclude={"model_dir", "prompt_cache"}),
           "total_s": total, "chunks": rows}
    (out_dir / f"pipeline_gpu_{profile}.json").write_text(json.dumps(out, indent=2))
    cols = ["chunk", "wall_s", "work_s", "overhead_s", *[f"{s}_s" for s in STAGES], "gaussians", "hole_fraction"]
    print(f"profile {profile}")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    print(json.dumps({k: v for k, v in out.items() if k not in ("chunks", "splat", "diffusion")}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", dest="extra", action="append", default=[])
    ap.add_argument("--profiles", default="official", help="comma-separated inference profiles to run in turn")
    ap.add_argument("--stdiff", action="store_true", help="full-size random-weight ST-Diff instead of the classical filler")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    from worldwarp.config import load_params

    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    warm = _warm_gsplat()
    with tempfile.TemporaryDirectory() as d:
        build_s = None
        extra = list(a.extra)
        if a.stdiff:
            t0 = time.perf_counter()
            model_dir = _random_wan(Path(d) / "wan")
            build_s = time.perf_counter() - t0
            extra = ["diffusion.backend=stdiff", f"diffusion.model_dir={model_dir}", *extra]
        for profile in a.profiles.split(","):
            cfg = load_params(ROOT / "params.yaml", [f"artifacts={d}", "tracking.mlflow=false", f"profile={profile}",
                                                     *extra])
            rows, total = _run(cfg, a.stdiff, f"bench-{profile}", a.out / f"pipeline_gpu_{profile}_partial.json")
            _report(a.out, profile, cfg, rows, total, dict(device=dev, gsplat_warmup_s=warm, stdiff_build_s=build_s))

if __name__ == "__main__":
    main()
