"""RealEstate10K: one camera file ``<clip>.txt`` per clip (worldwarp.geometry.trajectory_io parses the format)
and the clip's frames in a folder of the same name beside it, named by timestamp (``<timestamp_us>.png``, as
the file's first column) or by index (``00000.png``, ``frame_00001.jpg``; then one frame per camera line).

    ROOT/<clip>.txt
    ROOT/<clip>/<timestamp_us or index>.{png,jpg}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry.cameras import CameraError
from ..geometry.trajectory_io import load_realestate10k
from .scene import IMAGE_SUFFIXES, DatasetError, DatasetScene, frame_number, image_size


def realestate10k_scenes(root: Path, n: int | None = None) -> list[DatasetScene]:
    """The first ``n`` clips of ``root`` in name order (all when n is None)."""
    root = Path(root)
    files = sorted(root.glob("*.txt"))
    if not files:
        raise DatasetError(f"{root}: no RealEstate10K camera files (<clip>.txt beside a <clip>/ frame folder)")
    return [_scene(f) for f in files[:n]]


def _frames(folder: Path, camera_file: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{camera_file}: no frame folder {folder} beside it")
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and frame_number(p) is not None]
    if not images:
        raise DatasetError(f"{folder}: no numbered frames ({', '.join(IMAGE_SUFFIXES)})")
    return images


def _match(images: list[Path], timestamps: np.ndarray, folder: Path, camera_file: Path) -> list[Path]:
    """Frame i for camera line i: by timestamp when every line has one, else by index when the counts agree."""
    by_number = {frame_number(p): p for p in images}
    if all(int(t) in by_number for t in timestamps):
        return [by_number[int(t)] for t in timestamps]
    if len(images) == len(timestamps):
        return sorted(images, key=frame_number)
    missing = next(int(t) for t in timestamps if int(t) not in by_number)
    raise DatasetError(f"{folder}: no frame for timestamp {missing} of {camera_file.name}, and its {len(images)} frames "
                       f"are not one per camera line ({len(timestamps)}) to match by index")


def _scene(camera_file: Path) -> DatasetScene:
    folder = camera_file.with_suffix("")
    images = _frames(folder, camera_file)
    width, height = image_size(min(images, key=frame_number))  # every frame must share it (read_frame checks)
    try:
        cams, timestamps = load_realestate10k(camera_file, width, height)
    except CameraError as e:
        raise DatasetError(str(e)) from None  # already one line naming the file
    frames = _match(images, timestamps, folder, camera_file)
    return DatasetScene(camera_file.stem, cams, tuple(frames), camera_file)
