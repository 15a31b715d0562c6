"""One scene of an evaluation dataset: the input photo (its first frame), the camera path, the reference frames."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry.cameras import Cameras

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class DatasetError(ValueError):
    """A dataset root or file that cannot be read; the one-line message names the file."""


@dataclass(frozen=True)
class DatasetScene:
    name: str
    cameras: Cameras  # camera i sees frames[i]; K at the frames' own size, w2c in OpenCV convention
    frames: tuple[Path, ...]  # reference frames in order; frames[0] is the input photo
    source: Path  # the camera file the scene came from

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def first_frame(self) -> Path:
        return self.frames[0]

    def read_frame(self, i: int, height: int, width: int) -> np.ndarray:
        """Reference frame i fitted to ``height`` x ``width`` exactly as the input photo is (centre crop to the
        aspect ratio, then resize), float32 (H, W, 3) in [0, 1]."""
        from ..io.images import InputImageError, fit_to_resolution, read_image

        try:
            img, _ = read_image(self.frames[i])
        except InputImageError as e:
            raise DatasetError(str(e).splitlines()[0]) from None
        if img.shape[:2] != (self.cameras.height, self.cameras.width):
            raise DatasetError(f"{self.frames[i]}: image is {img.shape[1]}x{img.shape[0]}, but the scene's cameras "
                               f"are for {self.cameras.width}x{self.cameras.height} (frame 0's size)")
        return fit_to_resolution(img, height, width)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as e:
        raise DatasetError(f"{path}: not a readable image ({type(e).__name__})") from None


def frame_number(path: Path) -> int | None:
    """The number a frame file is named by (``52719000.png``, ``frame_00012.jpg``), or None."""
    m = re.search(r"(\d+)$", path.stem)
    return int(m.group(1)) if m else None


def natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]
