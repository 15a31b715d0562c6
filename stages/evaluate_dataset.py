"""`worldwarp evaluate-dataset`: generate each dataset scene from its first frame along its own cameras, evaluate
it against its frames at the protocol's indices, and write the paper's table (markdown + JSON).

Frame k of a run is camera k of the scene (trajectory.speed is forced to 1 so the indices stay aligned); a
scene is evaluated over min(run frames, scene frames), and an index past that is null with a notice.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from worldwarp.config import EvalConfig, WorldWarpConfig, validate
from worldwarp.datasets import DatasetScene, open_dataset
from worldwarp.geometry.trajectory_io import save_cameras_npz
from worldwarp.metrics import evaluate_video, write_report
from worldwarp.metrics.protocol import IMAGE_METRICS, features_of, metrics_at, set_scores
from worldwarp.store import RunStore

ROWS = (("PSNR", "psnr"), ("SSIM", "ssim"), ("LPIPS", "lpips"), ("FID", "fid"), ("KID", "kid"),
        ("R_dist", "R_dist"), ("T_dist", "T_dist"))
BETTER = {"PSNR": "↑", "SSIM": "↑", "LPIPS": "↓", "FID": "↓", "KID": "↓", "R_dist": "↓ deg", "T_dist": "↓ deg"}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80] or "scene"


def scene_config(base: WorldWarpConfig, scene: DatasetScene, work: Path) -> WorldWarpConfig:
    """The run of one scene: its first frame as the photo, its cameras as the trajectory file."""
    cams = work / "cameras" / f"{_safe(scene.name)}.npz"
    cams.parent.mkdir(parents=True, exist_ok=True)
    save_cameras_npz(cams, scene.cameras)
    data = base.model_dump(mode="json")
    data["scene"]["image"] = str(scene.first_frame)
    data["trajectory"].update(file=str(cams), movements=None, speed=1.0)
    data["artifacts"] = str(work / "artifacts")
    return validate(data)


def _frames(store: RunStore) -> Callable[[int, int], np.ndarray]:
    return lambda i, j: store.read_video(slice(i, j)).astype(np.float32) / 255.0


def _reference(scene: DatasetScene, height: int, width: int) -> Callable[[int, int], np.ndarray]:
    return lambda i, j: np.stack([scene.read_frame(t, height, width) for t in range(i, j)])


def evaluate_scene(store: RunStore, scene: DatasetScene, cfg: WorldWarpConfig, out: Path
                   ) -> tuple[dict[str, Any], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Per-scene report (written under ``out``) and Inception features (generated, reference) per protocol frame."""
    ev, H, W = cfg.eval, cfg.resolution.height, cfg.resolution.width
    inp = store.read_input()
    K, w2c = np.asarray(inp["K"]), np.asarray(inp["w2c"])
    n_run, n_ref = cfg.chunk.total_frames, len(scene)
    n = min(n_run, n_ref)
    pred, gt = _frames(store), _reference(scene, H, W)
    cols, notices = evaluate_video(pred, n, K[:n], w2c[:n], gt=gt, pose_stride=ev.pose_stride,
                                   lpips_weights=ev.lpips_weights, batch=ev.batch)
    what = f"scene {scene.name} (run {n_run} frames, reference {n_ref})"
    at = metrics_at(cols, pred, K, w2c, n, ev.at_frames, notices, what)
    feats = {}
    if ev.fid:
        ks = [k for k in ev.at_frames if k < n]
        gen, ref = features_of(pred, ks, ev.batch), features_of(gt, ks, ev.batch)
        feats = {k: (gen[i], ref[i]) for i, k in enumerate(ks)}
    meta = {"name": scene.name, "source": str(scene.source), "frames": n, "run_frames": n_run, "reference_frames": n_ref}
    write_report(out / "scenes" / _safe(scene.name), cols, notices, meta, {"at_frames": at})
    means = {m: _mean([cols[m][1:]]) for m in IMAGE_METRICS if m in cols}  # frame 0 is the input photo itself
    return {"name": scene.name, "at_frames": at, "means": means, "notices": notices}, feats


def _mean(values: list) -> float | None:
    v = np.asarray([x for a in values for x in np.atleast_1d(a) if x is not None], float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def build_table(rows: list[dict[str, Any]], feats: list[dict[int, tuple]], ev: EvalConfig,
                notices: list[str]) -> dict[str, dict[str, Any]]:
    """{row: {"50": value, "200": value, "mean": value}}: means over scenes at each frame; FID/KID over the set of
    the scenes' k-th frames (N = scenes that reach frame k); 'mean' = mean over scenes of per-frame means."""
    table: dict[str, dict[str, Any]] = {name: {} for name, _ in ROWS}
    table["N"] = {}
    for k in ev.at_frames:
        col = str(k)
        have = [r["at_frames"][col] for r in rows if r["at_frames"].get(col) is not None]
        for name, key in ROWS:
            if key not in ("fid", "kid"):
                table[name][col] = _mean([h.get(key) for h in have])
        table["N"][col] = len(have)
        scores = {"fid": None, "kid": None}
        if ev.fid:
            pairs = [f[k] for f in feats if k in f]
            gen, ref = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
            scores = set_scores(gen, ref, notices, label=f" at frame {k}")
        table["FID"][col], table["KID"][col] = scores["fid"], scores["kid"]
    for name, key in ROWS:
        table[name]["mean"] = _mean([r["means"].get(key) for r in rows]) if key in IMAGE_METRICS else None
    table["N"]["mean"] = len(rows)
    return table


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return str(v) if isinstance(v, int) else f"{v:.4g}"


def table_markdown(table: dict[str, dict[str, Any]], at: list[int], title: str, notes: list[str]) -> str:
    cols = [str(k) for k in at] + ["mean"]
    heads = [f"{k}th frame" for k in at] + ["mean over frames"]
    lines = [f"# {title}", "", "| metric | " + " | ".join(heads) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in [*(n for n, _ in ROWS), "N"]:
        label = f"{name} {BETTER[name]}" if name in BETTER else "N (scenes)"
        lines.append(f"| {label} | " + " | ".join(_fmt(table[name].get(c)) for c in cols) + " |")
    return "\n".join([*lines, "", *(f"- {n}" for n in notes)]) + "\n"


NOTES = [
    "Frame k = the k-th generated frame (frame 0 is the input photo); values are means over the scenes that reach it.",
    "FID/KID at frame k: the set of the scenes' k-th generated frames vs their reference frames (N = scenes); "
    "FID is biased upward at small N, compare only at equal N (docs/EVALUATION.md).",
    "R_dist / T_dist: rotation / translation-direction error (deg) of frame k relative to frame 0, pose estimated "
    "from the two frames by SIFT + essential matrix, vs the scene's cameras.",
    "'mean over frames': mean over scenes of each scene's mean over its generated frames 1..n-1 (image metrics only).",
]


def evaluate_dataset(kind: str, root: Path, n: int, base: WorldWarpConfig, out: Path,
                     announce: Callable[[str], None] = lambda s: None) -> dict[str, Path]:
    """Run and evaluate up to ``n`` scenes; results.md + results.json in ``out``, per-scene reports under it."""
    from stages.runner import run_longshot

    scenes = open_dataset(kind, root, n)
    rows, feats, notices = [], [], []
    for i, scene in enumerate(scenes):
        announce(f"[scene {i + 1}/{len(scenes)}] {scene.name}: {len(scene)} frames")
        cfg = scene_config(base, scene, out)
        store = run_longshot(cfg, f"{kind}-{_safe(scene.name)}", replace=True)
        row, f = evaluate_scene(store, scene, cfg, out)
        rows.append(row)
        feats.append(f)
        notices += [f"{scene.name}: {m}" for m in row["notices"]]
    table = build_table(rows, feats, base.eval, notices)
    title = f"WorldWarp on {kind}: {len(rows)} scenes from {root}"
    paths = {"md": out / "results.md", "json": out / "results.json"}
    paths["md"].write_text(table_markdown(table, base.eval.at_frames, title, NOTES))
    doc = {"dataset": kind, "root": str(root), "scenes": [r["name"] for r in rows], "at_frames": base.eval.at_frames,
           "table": table, "per_scene": rows, "notes": NOTES, "notices": notices,
           "params": base.model_dump(mode="json", include={"chunk", "resolution", "diffusion", "estimator", "eval"})}
    paths["json"].write_text(json.dumps(doc, indent=2) + "\n")
    return paths
