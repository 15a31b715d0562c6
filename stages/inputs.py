"""The run's inputs: the first image (photo or procedural scene render), its depth, the trajectory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from worldwarp.chunks import ChunkSpan, all_spans
from worldwarp.config import WorldWarpConfig
from worldwarp.geometry.cameras import Cameras, look_at
from worldwarp.geometry.movements import per_chunk
from worldwarp.geometry.trajectory import make_trajectory
from worldwarp.io.images import fit_notes, fit_to_resolution, read_image


@dataclass
class RunInputs:
    image: np.ndarray  # (H, W, 3) float32
    depth: np.ndarray  # (H, W) float32, metres
    K: np.ndarray  # (N, 3, 3) for every frame of the longshot
    w2c: np.ndarray  # (N, 4, 4)
    digest: str
    # what was done to the user's photo (EXIF orientation, mode conversion, crop, resize): the input group's attrs
    attrs: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"image": self.image, "depth": self.depth, "K": self.K, "w2c": self.w2c}


def _digest(*arrays: np.ndarray, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def start_pose(cfg: WorldWarpConfig) -> torch.Tensor:
    """The run's first camera (w2c): the procedural scene's own start, or the world origin for a photo."""
    if cfg.scene.image is None:
        from worldwarp.scenes import make_scene

        return make_scene(cfg.scene.name).start_pose()
    # a photo defines its own frame: the first camera is the world origin
    return look_at(torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))


def trajectory_cameras(cfg: WorldWarpConfig) -> Cameras:
    """Every camera of the longshot, as the run will follow them."""
    H, W = cfg.resolution.height, cfg.resolution.width
    return make_trajectory(cfg.trajectory, cfg.chunk.total_frames, W, H, start_pose(cfg), cfg.chunk)


def new_frame_starts(cfg: WorldWarpConfig) -> list[int]:
    """The first frame each chunk adds to the video."""
    return [s.new_start for s in all_spans(cfg.chunk)]


def chunk_labels(cfg: WorldWarpConfig) -> list[str]:
    """What drives each chunk's camera, for plots: its movement, or the preset / file of the whole path."""
    t = cfg.trajectory
    if t.movements is not None:
        return per_chunk(t.movements, cfg.chunk.count)
    return [t.file or t.preset] * cfg.chunk.count


def prepare_inputs(cfg: WorldWarpConfig) -> RunInputs:
    """Build in memory everything the store's input group holds (cheap next to any stage)."""
    H, W = cfg.resolution.height, cfg.resolution.width
    attrs: dict[str, Any] = {}
    cams = trajectory_cameras(cfg)
    if cfg.scene.image is None:
        from worldwarp.scenes import make_scene

        rgb, depth = make_scene(cfg.scene.name).render(cams[0])
        image, depth0 = rgb[0].numpy(), depth[0].numpy()
        source = f"scene:{cfg.scene.name}"
    else:
        photo, notes = read_image(cfg.scene.image)
        image = fit_to_resolution(photo, H, W)
        attrs = {"source_image": {**notes, **fit_notes(*photo.shape[:2], H, W)}}
        depth0 = np.full((H, W), cfg.scene.constant_depth, np.float32)
        source = f"image:depth={cfg.scene.constant_depth}"
    K, w2c = cams.K.numpy(), cams.w2c.numpy()
    image, depth0 = image.astype(np.float32), depth0.astype(np.float32)
    return RunInputs(image, depth0, K, w2c, _digest(image, depth0, K, w2c, extra=source), attrs)


def chunk_cameras(inputs: dict[str, np.ndarray], span: ChunkSpan) -> Cameras:
    """The commanded cameras of one chunk's frames, from the store's input group."""
    h, w = inputs["image"].shape[:2]
    sl = slice(span.start, span.stop)
    return Cameras(torch.from_numpy(np.asarray(inputs["K"][sl])), torch.from_numpy(np.asarray(inputs["w2c"][sl])), w, h)
