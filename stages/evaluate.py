"""Evaluate a finished run against ground truth (with the paper's protocol: metrics at eval.at_frames, FID/KID),
and aggregate several runs' metrics (DVC stages).

Unlike the chunk stages, these write plain files (JSON, CSV, PNG) that DVC tracks as metrics and plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from worldwarp.config import EvalConfig, WorldWarpConfig, validate
from worldwarp.geometry.cameras import Cameras
from worldwarp.metrics import evaluate_video, write_report
from worldwarp.metrics.protocol import protocol_summary
from worldwarp.metrics.report import plot_metrics
from worldwarp.store import RunStore, StoreError


def evaluate_store(store: RunStore, ev: EvalConfig, out_dir: Path | str, progress: bool = False) -> dict[str, Path]:
    cfg: WorldWarpConfig = validate(store.params)
    n = cfg.chunk.total_frames
    missing = n - sum(b - a for a, b in store.video_ranges())
    if missing > 0:
        raise StoreError(f"{store.path}: run is not complete ({missing} of {n} frames missing); resume it first")
    inp = store.read_input()
    K, w2c = np.asarray(inp["K"]), np.asarray(inp["w2c"])
    H, W = cfg.resolution.height, cfg.resolution.width

    def pred(i: int, j: int) -> np.ndarray:
        return store.read_video(slice(i, j)).astype(np.float32) / 255.0

    gt = None
    if cfg.scene.image is None:
        from worldwarp.scenes import make_scene

        scene = make_scene(cfg.scene.name)

        def gt(i: int, j: int) -> np.ndarray:
            return scene.render(Cameras(K[i:j], w2c[i:j], W, H))[0].numpy()

    cols, notices = evaluate_video(pred, n, K, w2c, gt=gt, pose_stride=ev.pose_stride,
                                   lpips_weights=ev.lpips_weights, batch=ev.batch, progress=progress)
    extra = protocol_summary(cols, pred, n, K, w2c, gt=gt, at=ev.at_frames, fid=ev.fid, batch=ev.batch,
                             notices=notices)
    meta = {"name": store.run_id, "scene": cfg.scene.name if cfg.scene.image is None else cfg.scene.image,
            **_trajectory_meta(store, cfg), "denoiser": cfg.diffusion.backend, "frames": n}
    return write_report(out_dir, cols, notices, meta, extra)


def _trajectory_meta(store: RunStore, cfg: WorldWarpConfig) -> dict[str, str]:
    """What the run followed: the store's record, else (stores written before it) resolved from its params."""
    from worldwarp.geometry.names import trajectory_source

    rec = store.attrs.get("trajectory") or {}
    kind, name = (rec["kind"], rec["name"]) if "kind" in rec else trajectory_source(cfg.trajectory)
    return {"trajectory": name, "trajectory_kind": kind}


COLUMNS = ("psnr", "ssim", "lpips", "rot_err_deg", "trans_err_deg", "fid", "kid")


def aggregate(eval_root: Path | str, out_dir: Path | str) -> dict[str, Path]:
    """summary.json (per experiment), results.md (a table), psnr_vs_frame.png (all experiments)."""
    root, out = Path(eval_root), Path(out_dir)
    runs = sorted(p.parent for p in root.glob("*/metrics.json"))
    if not runs:
        raise FileNotFoundError(f"{root}: no */metrics.json to aggregate")
    out.mkdir(parents=True, exist_ok=True)
    summary = {r.name: json.loads((r / "metrics.json").read_text()) for r in runs}
    flat = {name: {k: v for k, v in s.items() if isinstance(v, (int, float)) or v is None}
            for name, s in summary.items()}
    paths = {"json": out / "summary.json", "md": out / "results.md", "png": out / "psnr_vs_frame.png"}
    paths["json"].write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    paths["md"].write_text(_table(summary))
    _plot_all(runs, paths["png"])
    return paths


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(summary: dict[str, dict[str, Any]]) -> str:
    head = ["experiment", "frames", *COLUMNS, "psnr first→last quarter"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        drift = f"{_fmt(s.get('psnr_first'))} → {_fmt(s.get('psnr_last'))}"
        lines.append("| " + " | ".join([name, _fmt(s.get("frames")), *(_fmt(s.get(c)) for c in COLUMNS), drift]) + " |")
    return "\n".join(lines) + "\n"


def _plot_all(runs: list[Path], path: Path) -> None:
    import csv

    cols: dict[str, np.ndarray] = {}
    for r in runs:
        with (r / "per_frame.csv").open() as f:
            rows = list(csv.DictReader(f))
        if not rows or "psnr" not in rows[0]:
            continue
        cols.setdefault("frame", np.arange(max(len(rows), len(cols.get("frame", [])))))
        v = np.array([float(x["psnr"]) if x["psnr"] else np.nan for x in rows])
        cols[f"psnr {r.name}"] = v
    if "frame" in cols:
        n = len(cols["frame"])
        cols = {k: (np.pad(v, (0, n - len(v)), constant_values=np.nan) if k != "frame" else v) for k, v in cols.items()}
        plot_metrics(cols, path, title="PSNR vs frame (dB)")
