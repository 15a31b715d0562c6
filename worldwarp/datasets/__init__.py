"""Readers of evaluation datasets (RealEstate10K, DL3DV): per scene the input photo (first frame), the camera
path (K, OpenCV world-to-camera) and the reference frames."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .dl3dv import dl3dv_scenes, read_transforms
from .realestate10k import realestate10k_scenes
from .scene import DatasetError, DatasetScene

READERS: dict[str, Callable[[Path, int | None], list[DatasetScene]]] = {
    "realestate10k": realestate10k_scenes,
    "dl3dv": dl3dv_scenes,
}


def open_dataset(kind: str, root: Path | str, n: int | None = None) -> list[DatasetScene]:
    """The first ``n`` scenes of a dataset root; DatasetError (one line naming the file) when it cannot be read."""
    if kind not in READERS:
        raise DatasetError(f"unknown dataset {kind!r}; known: {', '.join(READERS)}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    return READERS[kind](root, n)


__all__ = ["DatasetError", "DatasetScene", "READERS", "open_dataset", "dl3dv_scenes", "read_transforms",
           "realestate10k_scenes"]
