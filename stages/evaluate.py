"""Evaluate a finished run against ground truth (with the paper's protocol: metrics at eval.at_frames, FID/KID),
and aggregate several runs' metrics (DVC stages).

Unlike the chunk stages, these write plain files (JSON, CSV, PNG) that DVC tracks as metrics and plots.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from worldwarp.checks import InputFileError, read_json_file, read_text_file
from worldwarp.config import EvalConfig, WorldWarpConfig, validate_stored
from worldwarp.geometry.cameras import Cameras
from worldwarp.metrics import evaluate_video, write_report
from worldwarp.metrics.protocol import protocol_summary
from worldwarp.metrics.report import plot_metrics
from worldwarp.store import RunStore, StoreError


def evaluate_store(store: RunStore, ev: EvalConfig, out_dir: Path | str, progress: bool = False) -> dict[str, Path]:
    cfg: WorldWarpConfig = validate_stored(store.params)
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
    """summary.json (per experiment), results.md (a table), psnr_vs_frame.png (all experiments, any lengths).

    All or nothing: every file is made in a temporary folder beside ``out_dir`` and moved in only once all are
    written, so a failure (a corrupt metrics.json, a full disk) leaves the previous results as they were."""
    root, out = Path(eval_root), Path(out_dir)
    runs = sorted(p.parent for p in root.glob("*/metrics.json"))
    if not runs:
        raise FileNotFoundError(f"{root}: no */metrics.json to aggregate")
    summary = {r.name: _read_metrics(r / "metrics.json") for r in runs}
    curves = {r.name: _psnr_curve(r / "per_frame.csv") for r in runs}
    flat = {name: {k: v for k, v in s.items() if isinstance(v, (int, float)) or v is None}
            for name, s in summary.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "summary.json").write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
        (tmp / "results.md").write_text(_table(summary))
        _plot_all(curves, tmp / "psnr_vs_frame.png")
        names = {k: n for k, n in (("json", "summary.json"), ("md", "results.md"), ("png", "psnr_vs_frame.png"))
                 if (tmp / n).exists()}  # no plot when no experiment has a psnr column
        _publish(tmp, out, list(names.values()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: out / n for k, n in names.items()}


def _publish(tmp: Path, out: Path, names: list[str]) -> None:
    """A new results folder appears in one rename; into an existing one (it may hold other files) each file is
    renamed in, after all of them were written."""
    if not out.exists():
        tmp.rename(out)
        return
    for n in names:
        os.replace(tmp / n, out / n)


def _read_metrics(path: Path) -> dict[str, Any]:
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: holds a JSON {type(data).__name__}, not the object `worldwarp evaluate` writes")
    frames = data.get("frames")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:  # every report has its frame count
        raise InputFileError(f"{path}: not a `worldwarp evaluate` report (no frame count 'frames'); a table of it "
                             "would be all n/a")
    return data


def _psnr_curve(path: Path) -> np.ndarray | None:
    """per_frame.csv's psnr column (NaN where empty), or None when there is no such column."""
    import csv

    if not path.is_file():
        return None
    with io.StringIO(read_text_file(path)) as f:
        rows = list(csv.DictReader(f))
    if not rows or "psnr" not in rows[0]:
        return None
    try:
        return np.array([float(x["psnr"]) if x["psnr"] else np.nan for x in rows])
    except (TypeError, ValueError):
        bad = next(i for i, x in enumerate(rows) if not _is_number(x["psnr"]))
        raise InputFileError(f"{path}: line {bad + 2}: psnr {rows[bad]['psnr']!r} is not a number") from None


def _is_number(v: Any) -> bool:
    try:
        float(v) if v else None
        return True
    except (TypeError, ValueError):
        return False


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(summary: dict[str, dict[str, Any]]) -> str:
    head = ["experiment", "frames", *COLUMNS, "psnr first→last quarter"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        drift = f"{_fmt(s.get('psnr_first'))} → {_fmt(s.get('psnr_last'))}"
        lines.append("| " + " | ".join([name, _fmt(s.get("frames")), *(_fmt(s.get(c)) for c in COLUMNS), drift]) + " |")
    return "\n".join(lines) + "\n"


def _plot_all(curves: dict[str, np.ndarray | None], path: Path) -> None:
    """One PSNR curve per experiment over the longest one's frames (shorter ones end early: NaN-padded)."""
    have = {name: v for name, v in curves.items() if v is not None}
    if not have:
        return
    n = max(len(v) for v in have.values())
    cols = {"frame": np.arange(n)}
    cols.update({f"psnr {name}": np.pad(v, (0, n - len(v)), constant_values=np.nan) for name, v in have.items()})
    plot_metrics(cols, path, title="PSNR vs frame (dB)")
