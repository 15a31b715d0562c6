"""DL3DV (and any nerfstudio scene): ``transforms.json`` plus the images its frames name.

nerfstudio stores OpenGL camera-to-world matrices (x right, y up, z back); WorldWarp uses OpenCV world-to-camera
(x right, y down, z forward), so w2c = inv(c2w_gl @ diag(1, -1, -1, 1)), the inverse of what
``worldwarp.export`` writes. Intrinsics follow nerfstudio: top-level fl_x/fl_y/cx/cy/w/h win over a frame's
own. Frames are taken in file-name order (DL3DV's frame_00001.png ... are the video's order). Distortion
coefficients are ignored (pinhole).

    ROOT/<scene>/transforms.json or ROOT/<scene>/nerfstudio/transforms.json (or ROOT/transforms.json: one scene)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..geometry.cameras import CameraError, Cameras
from .scene import DatasetError, DatasetScene, image_size, natural_key

CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])  # as worldwarp.export.files: its own inverse
PINHOLE_MODELS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL")
INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h")


def dl3dv_scenes(root: Path, n: int | None = None) -> list[DatasetScene]:
    """The first ``n`` scenes of ``root`` in name order (all when n is None)."""
    root = Path(root)
    if (root / "transforms.json").is_file():
        files = [root / "transforms.json"]
    else:
        files = sorted({*root.glob("*/transforms.json"), *root.glob("*/nerfstudio/transforms.json")})
    if not files:
        raise DatasetError(f"{root}: no transforms.json (expected <scene>/transforms.json or "
                           "<scene>/nerfstudio/transforms.json)")
    return [read_transforms(f) for f in files[:n]]


def c2w_gl_to_w2c(c2w: np.ndarray) -> np.ndarray:
    return np.linalg.inv(np.asarray(c2w, np.float64) @ CV_TO_GL)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not readable ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list) or not doc["frames"]:
        raise DatasetError(f"{path}: no 'frames' list (not a nerfstudio transforms.json)")
    model = doc.get("camera_model", "OPENCV")
    if model not in PINHOLE_MODELS:
        raise DatasetError(f"{path}: camera_model {model!r} is not a pinhole model ({', '.join(PINHOLE_MODELS)})")
    return doc


def _number(path: Path, where: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: {where} is {str(value)[:40]!r}, not a number") from None
    if not np.isfinite(x):
        raise DatasetError(f"{path}: {where} is not finite")
    return x


def _get(doc: dict, frame: dict, key: str) -> Any:
    return doc[key] if key in doc else frame.get(key)


def _intrinsics(path: Path, doc: dict, frame: dict, i: int) -> dict[str, float]:
    out = {}
    for key in INTRINSICS:
        value = _get(doc, frame, key)
        if value is None and key == "fl_y":  # square pixels
            value = _get(doc, frame, "fl_x")
        if value is None:
            raise DatasetError(f"{path}: frame {i} has no '{key}' (nor the file's top level)")
        out[key] = _number(path, f"frame {i} '{key}'", value)
    return out


def _pose(path: Path, frame: dict, i: int) -> np.ndarray:
    m = np.asarray(frame.get("transform_matrix", []), dtype=object)
    if m.shape not in ((4, 4), (3, 4)):
        raise DatasetError(f"{path}: frame {i} transform_matrix has shape {m.shape}, expected 4x4")
    c2w = np.eye(4)
    c2w[: m.shape[0]] = [[_number(path, f"frame {i} transform_matrix", v) for v in row] for row in m]
    return c2w_gl_to_w2c(c2w)


def read_transforms(path: Path) -> DatasetScene:
    """One scene from a transforms.json: cameras at the images' own size, frames in file-name order."""
    path = Path(path)
    doc = _load(path)
    frames = [f if isinstance(f, dict) else {} for f in doc["frames"]]
    order = sorted(range(len(frames)), key=lambda i: natural_key(str(frames[i].get("file_path", ""))))
    images, Ks, w2cs, sizes = [], [], [], []
    for i in order:
        f = frames[i]
        if "file_path" not in f:
            raise DatasetError(f"{path}: frame {i} has no file_path")
        img = path.parent / str(f["file_path"])
        if not img.is_file():
            raise DatasetError(f"{path}: frame {i} names {img}, which does not exist")
        intr = _intrinsics(path, doc, f, i)
        Ks.append(np.array([[intr["fl_x"], 0, intr["cx"]], [0, intr["fl_y"], intr["cy"]], [0, 0, 1]]))
        sizes.append((intr["w"], intr["h"]))
        w2cs.append(_pose(path, f, i))
        images.append(img)
    if len(set(sizes)) > 1:
        raise DatasetError(f"{path}: frames are for different image sizes {sorted(set(sizes))[:2]}; one size per scene")
    width, height = image_size(images[0])
    K = _rescale(path, np.stack(Ks), *sizes[0], width, height)
    try:
        cams = Cameras(torch.from_numpy(K), torch.from_numpy(np.stack(w2cs)), width, height)
    except CameraError as e:
        raise DatasetError(f"{path}: {e}") from None
    name = path.parent.parent.name if path.parent.name == "nerfstudio" else path.parent.name
    return DatasetScene(name, cams, tuple(images), path)


def _rescale(path: Path, K: np.ndarray, w: float, h: float, width: int, height: int) -> np.ndarray:
    """Intrinsics written for w x h, used on images of width x height (DL3DV's images_2/4/8 downscales)."""
    if (w, h) == (width, height):
        return K
    if abs(width / height - w / h) > 0.01 * (w / h):
        raise DatasetError(f"{path}: intrinsics are for {w:g}x{h:g} but the images are {width}x{height} "
                           "(another aspect ratio)")
    K = K.copy()
    K[:, 0] *= width / w
    K[:, 1] *= height / h
    return K
