"""Each exporter reads a run store and writes one standard file; ``export_all`` writes them all, only
from a finished, intact store, into a temporary folder moved into place at the end."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..geometry.cameras import Cameras
from ..geometry.trajectory_io import save_cameras_npz
from ..io.video import write_mp4
from ..store import StoreError
from ..store.atomic import publish, temp_sibling

# OpenCV camera (x right, y down, z forward) -> OpenGL/Blender/nerfstudio camera (x right, y up, z back)
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def run_cameras(store, frames: int | None = None) -> Cameras:
    """The run's cameras (the first ``frames`` of them: those that have a frame), at the input's size."""
    inp = store.read_input()
    n = frames if frames is not None else len(inp["K"])
    h, w = inp["image"].shape[:2]
    return Cameras(torch.from_numpy(np.asarray(inp["K"][:n])), torch.from_numpy(np.asarray(inp["w2c"][:n])), w, h)


def framed_cameras(store) -> Cameras:
    """The cameras of the run that have a frame in its video."""
    return run_cameras(store, sum(b - a for a, b in store.video_ranges()))


def export_mp4(store, path: Path, fps: int = 16) -> Path:
    frames = store.read_video()
    if len(frames) == 0:
        raise StoreError(f"{store.path}: no finished frames to export yet")
    return write_mp4(path, frames, fps=fps)


def export_cameras(store, path: Path) -> Path:
    save_cameras_npz(path, run_cameras(store))
    return Path(path)


def _last_chunk_with(store, group: str, chunk: int) -> int:
    done = [k for k in store.chunks() if store.stage_status(k, group).complete]
    if not done:
        raise StoreError(f"{store.path}: no chunk has finished its {group} stage")
    if chunk < 0:
        return done[chunk] if -chunk <= len(done) else done[0]
    if chunk not in done:
        raise StoreError(f"{store.path}: chunk {chunk} has no finished {group} (finished: {done})")
    return chunk


def export_ply(store, path: Path, chunk: int = -1) -> Path:
    from ..splat import Gaussians, save_ply

    k = _last_chunk_with(store, "gaussians", chunk)
    a = store.read_stage(k, "gaussians")
    g = Gaussians(**{f: torch.from_numpy(np.asarray(a[f])) for f in ("means", "quats", "scales", "opacities", "sh")})
    save_ply(path, g)
    return Path(path)


def _c2w_gl(w2c: np.ndarray) -> np.ndarray:
    # a general inverse, not R^T: float32 rotations are orthonormal only to ~1e-7, and readers invert back
    return np.linalg.inv(w2c.astype(np.float64)) @ CV_TO_GL


def export_nerfstudio(store, path: Path, image_dir: str = "images", fps: int = 16) -> Path:
    """transforms.json in nerfstudio's ``nerfstudio-data`` layout: OPENCV with zero distortion (a pinhole),
    OpenGL camera-to-world. nerfstudio lets a top-level fl_x/fl_y/cx/cy override every frame's, so one is
    written at the top only where all frames share it (a zoom keeps its per-frame focal lengths)."""
    cams = run_cameras(store, len(store.read_video()))
    per_frame = [_intrinsics(K) for K in cams.K.numpy()]
    shared = {k: v for k, v in per_frame[0].items() if all(f[k] == v for f in per_frame)}
    frames = [{"file_path": f"{image_dir}/frame_{i:05d}.png", **intr, "transform_matrix": _c2w_gl(w2c).tolist()}
              for i, (intr, w2c) in enumerate(zip(per_frame, cams.w2c.numpy()))]
    doc = {"camera_model": "OPENCV", "w": cams.width, "h": cams.height, **shared,
           "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "fps": fps, "frames": frames}
    Path(path).write_text(json.dumps(doc, indent=1))
    return Path(path)


def _intrinsics(K: np.ndarray) -> dict[str, float]:
    return {"fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])}


def export_frames(store, out: Path, image_dir: str = "images") -> Path:
    from ..io.video import write_png

    d = Path(out) / image_dir
    for i, f in enumerate(store.read_video()):
        write_png(d / f"frame_{i:05d}.png", f)
    return d


BLENDER_SCRIPT = Path(__file__).with_name("import_blender.py")  # shipped as data, run inside Blender


def export_blender(out: Path) -> Path:
    p = Path(out) / "import_blender.py"
    shutil.copyfile(BLENDER_SCRIPT, p)
    return p


def require_exportable(store, name: str | None = None) -> None:
    """Refuse a run that is not finished, or whose store is damaged (verify: every file's checksum, every node's
    zarr.json, every group the run must have). ``name``: the store as the user gave it (a URL is read from a copy)."""
    name = name or str(store.path)
    if store.status != "complete":
        raise StoreError(f"{name}: the run is {store.status}, not complete; finish it with `worldwarp resume {name}`")
    report = store.verify(deep=True)
    if not report.ok:
        raise StoreError(f"{name}: damaged ({report.first()}); repair it with `worldwarp resume {name}`")
    total, have = store.attrs.get("total_frames"), store.video_ranges()
    if total is not None and have != [(0, int(total))]:
        raise StoreError(f"{name}: the video holds frames {have}, not 0..{total}; finish it with `worldwarp resume {name}`")


def require_memory(store) -> None:
    from .world import memory_mode

    if memory_mode(store) == "fresh":
        raise StoreError(f"{store.path}: the run used memory.mode=fresh, which keeps no world to export "
                         "(--world needs a run made with memory.mode=world or append)")


def export_all(store, out: Path, chunk: int = -1, name: str | None = None, world: bool = False,
               device: str = "cpu", world_steps: int = 100, on_score=None, progress: bool = False) -> list[Path]:
    """Every export of a finished run into ``out``: written aside, then moved in, so a failure leaves
    ``out`` as it was. Files of an earlier export in ``out`` are replaced; nothing else there is touched.
    ``world``: also world.ply (refined ``world_steps`` steps) and world_score.json, on ``device``
    (world.export_world); ``on_score`` gets the score."""
    require_exportable(store, name)
    if world:
        require_memory(store)
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_sibling(out)
        tmp.mkdir()
    except OSError as e:
        raise StoreError(f"{out.parent}: cannot write there ({e.strerror or type(e).__name__})") from None
    try:
        written = [export_mp4(store, tmp / "video.mp4"), export_cameras(store, tmp / "cameras.npz"),
                   export_ply(store, tmp / "gaussians.ply", chunk), export_frames(store, tmp),
                   export_nerfstudio(store, tmp / "transforms.json"), export_blender(tmp)]
        if world:
            from .world import export_world

            ply, score = export_world(store, tmp / "world.ply", framed_cameras(store), device=device,
                                      steps=world_steps, progress=progress)
            written += [ply, ply.with_name("world_score.json")]
            if on_score is not None:
                on_score(score)
        _move_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / p.relative_to(tmp) for p in written]


def _move_in(tmp: Path, out: Path) -> None:
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.rename(tmp, out)
        return
    for p in sorted(tmp.iterdir()):  # into a folder that holds other things: entry by entry, each atomic
        if p.is_dir():
            publish(p, out / p.name)
        else:
            os.replace(p, out / p.name)
