"""Each exporter reads a run store and writes one standard file; ``export_all`` writes them all, only
from a finished, intact store, into a temporary folder moved into place at the end."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..geometry.cameras import Cameras, invert_rigid
from ..geometry.trajectory_io import save_cameras_npz
from ..io.video import write_mp4
from ..store import StoreError
from ..store.atomic import publish, temp_sibling

# OpenCV camera (x right, y down, z forward) -> OpenGL/Blender/nerfstudio camera (x right, y up, z back)
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def _cameras(store, frames: int | None = None) -> Cameras:
    inp = store.read_input()
    n = frames if frames is not None else len(inp["K"])
    h, w = inp["image"].shape[:2]
    return Cameras(torch.from_numpy(np.asarray(inp["K"][:n])), torch.from_numpy(np.asarray(inp["w2c"][:n])), w, h)


def export_mp4(store, path: Path, fps: int = 16) -> Path:
    frames = store.read_video()
    if len(frames) == 0:
        raise StoreError(f"{store.path}: no finished frames to export yet")
    return write_mp4(path, frames, fps=fps)


def export_cameras(store, path: Path) -> Path:
    save_cameras_npz(path, _cameras(store))
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
    return invert_rigid(torch.from_numpy(w2c).double()).numpy() @ CV_TO_GL


def export_nerfstudio(store, path: Path, image_dir: str = "images") -> Path:
    """transforms.json with per-frame intrinsics and OpenGL camera-to-world, as nerfstudio reads it."""
    cams = _cameras(store, len(store.read_video()))
    frames = []
    for i, (K, w2c) in enumerate(zip(cams.K.numpy(), cams.w2c.numpy())):
        frames.append({"file_path": f"{image_dir}/frame_{i:05d}.png", "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]),
                       "cx": float(K[0, 2]), "cy": float(K[1, 2]), "transform_matrix": _c2w_gl(w2c).tolist()})
    doc = {"camera_model": "OPENCV", "w": cams.width, "h": cams.height, "frames": frames}
    Path(path).write_text(json.dumps(doc, indent=1))
    return Path(path)


def export_frames(store, out: Path, image_dir: str = "images") -> Path:
    from ..io.video import write_png

    d = Path(out) / image_dir
    for i, f in enumerate(store.read_video()):
        write_png(d / f"frame_{i:05d}.png", f)
    return d


BLENDER_SCRIPT = '''"""Import a WorldWarp export into Blender: run with `blender --python import_blender.py`
(or from Blender's Text Editor). Creates one camera per frame (animated camera "WorldWarp" too) and
imports the Gaussian centres as a point cloud."""
import json
import os

import bpy
import mathutils

HERE = os.path.dirname(os.path.abspath(__file__))
doc = json.load(open(os.path.join(HERE, "transforms.json")))
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = doc["w"], doc["h"]
cam_data = bpy.data.cameras.new("WorldWarp")
cam = bpy.data.objects.new("WorldWarp", cam_data)
scene.collection.objects.link(cam)
cam_data.sensor_fit = "HORIZONTAL"
cam_data.sensor_width = 36.0
for i, fr in enumerate(doc["frames"]):
    # transforms.json holds OpenGL camera-to-world, which is Blender's camera convention too
    cam.matrix_world = mathutils.Matrix(fr["transform_matrix"])
    cam_data.lens = fr["fl_x"] / doc["w"] * cam_data.sensor_width
    cam.keyframe_insert("location", frame=i + 1)
    cam.keyframe_insert("rotation_euler", frame=i + 1)
    cam_data.keyframe_insert("lens", frame=i + 1)
scene.frame_start, scene.frame_end = 1, len(doc["frames"])
scene.camera = cam
ply = os.path.join(HERE, "gaussians.ply")
if os.path.exists(ply):
    if hasattr(bpy.ops.wm, "ply_import"):
        bpy.ops.wm.ply_import(filepath=ply)
    else:
        bpy.ops.import_mesh.ply(filepath=ply)
'''


def export_blender(out: Path) -> Path:
    p = Path(out) / "import_blender.py"
    p.write_text(BLENDER_SCRIPT)
    return p


def require_exportable(store) -> None:
    """Refuse a run that is not finished, or whose store is damaged (checksums of every file)."""
    if store.status != "complete":
        raise StoreError(f"{store.path}: the run is {store.status}, not complete; finish it with `worldwarp resume`")
    report = store.verify(deep=True)
    if not report.ok:
        raise StoreError(f"{store.path}: damaged ({report.first()}); repair it with `worldwarp resume`")
    total, have = store.attrs.get("total_frames"), store.video_ranges()
    if total is not None and have != [(0, int(total))]:
        raise StoreError(f"{store.path}: the video holds frames {have}, not 0..{total}; finish it with `worldwarp resume`")


def export_all(store, out: Path, chunk: int = -1) -> list[Path]:
    """Every export of a finished run into ``out``: written aside, then moved in, so a failure leaves
    ``out`` as it was. Files of an earlier export in ``out`` are replaced; nothing else there is touched."""
    require_exportable(store)
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
