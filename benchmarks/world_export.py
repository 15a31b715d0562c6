"""Time `worldwarp export --world`'s own work on a finished world run: fuse, refine, save world.ply, score at every
camera (worldwarp/export/world.py), without the other exports (mp4, PNG frames, ...), which need ffmpeg and are not
part of issue 26's "<= 60 s for a 1000-frame run". Writes world.ply, world_score.json and world_export.json
(seconds per phase, the machine) into --out.

    python benchmarks/world_export.py RUN.zarr --device cuda --out DIR [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from stored_run import open_stored

from worldwarp.export.files import framed_cameras
from worldwarp.export.world import export_world
from worldwarp.export.world_score import score_device, score_line


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--steps", type=int, default=100, help="refinement steps (export's --world-steps)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    store, _ = open_stored(a.store)
    device = score_device(a.device)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cams = framed_cameras(store)
    _, score = export_world(store, a.out / "world.ply", cams, device=device, steps=a.steps)
    res = {"store": str(a.store), "frames": len(cams), "chunks": len(store.chunks()), "device": score["device"],
           "cpu": platform.processor() or platform.machine(), "total_s": time.perf_counter() - t0,
           "fuse_s": score["fuse_seconds"], "refine_s": score["refine_seconds"], "score_s": score["seconds"],
           "fused_gaussians": score["fused_gaussians"], "refine_steps": a.steps,
           "psnr_frames": score["psnr_frames"]["mean"], "psnr_exact": score.get("psnr_exact", {}).get("mean")}
    res["save_s"] = res["total_s"] - res["fuse_s"] - res["refine_s"] - res["score_s"]
    (a.out / "world_export.json").write_text(json.dumps(res, indent=1))
    print(score_line(score))
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
