"""TTT3R as a geometry estimator: frames in (any count, streamed), per-frame depth, camera-to-world pose, intrinsics
and confidence out, computed as the authors' ``TTT3RInference`` computes them.

- Preprocess: scale the longer side to ``size`` (bilinear, antialiased), pad to ``size`` x ``size`` with black
  (centred), map [0, 1] to [-1, 1].
- Depth: z of the frame's own point map, the padding cropped, resized bilinearly to the frame size.
- Pose: the pose head's translation + quaternion as a camera-to-world matrix, in the first frame's frame and the
  model's (roughly metric) units.
- Focal: Weiszfeld's iteration (10 steps) for the focal that best explains the frame's own point map through a
  pinhole at the padded image's centre, over all pixels (padding included, as theirs); principal point: that
  centre mapped back to the frame.
- Confidence: the model's conf_self c >= 1 mapped to 1 - 1/c in [0, 1) (the authors do not use it).

Memory is bounded: frames are encoded ``batch_size`` at a time and each frame's outputs leave the device at once.
The model is causal: a frame's outputs depend on it and the frames before it only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ...diffusion.checkpoint import CheckpointError
from ..types import GeometryEstimate, check_frames
from .checkpoint import load_weights, read_checkpoint
from .model import Cut3rModel, FrameOutput, Update

DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WEISZFELD_STEPS = 10


@dataclass
class Ttt3rOutput:
    depth: torch.Tensor  # (V, H, W) model units
    c2w: torch.Tensor  # (V, 4, 4)
    K: torch.Tensor  # (V, 3, 3) at the frames' resolution
    confidence: torch.Tensor  # (V, H, W) in [0, 1)

    @property
    def w2c(self) -> torch.Tensor:
        return torch.linalg.inv(self.c2w.double()).float()


@dataclass
class Ttt3rPrediction:
    """The monocular-depth interface of the geometry stage (see depth_models.DepthPrediction)."""

    values: torch.Tensor
    K: torch.Tensor
    space: str = "depth"
    metric: bool = True
    intrinsics_source: str = "model"


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions, real part first, any norm -> (..., 3, 3) rotations."""
    r, i, j, k = q.unbind(-1)
    s = 2.0 / (q * q).sum(-1)
    return torch.stack([1 - s * (j * j + k * k), s * (i * j - k * r), s * (i * k + j * r),
                        s * (i * j + k * r), 1 - s * (i * i + k * k), s * (j * k - i * r),
                        s * (i * k - j * r), s * (j * k + i * r), 1 - s * (i * i + j * j)], -1).unflatten(-1, (3, 3))


def pose_to_c2w(pose: torch.Tensor) -> torch.Tensor:
    c2w = torch.eye(4, dtype=pose.dtype, device=pose.device).repeat(len(pose), 1, 1)
    c2w[:, :3, :3], c2w[:, :3, 3] = quaternion_to_matrix(pose[:, 3:7]), pose[:, :3]
    return c2w


def weiszfeld_focal(points: torch.Tensor, pp: tuple[float, float]) -> torch.Tensor:
    """points (B, H, W, 3) in the camera -> (B,) focal minimising sum |pixel - pp - f xy/z| (robust, L1)."""
    B, H, W, _ = points.shape
    ys, xs = torch.meshgrid(torch.arange(H, device=points.device), torch.arange(W, device=points.device), indexing="ij")
    pix = (torch.stack((xs, ys), -1).reshape(1, -1, 2) - torch.tensor(pp, device=points.device)).float()
    pts = points.reshape(B, -1, 3).float()
    xy = (pts[..., :2] / pts[..., 2:3]).nan_to_num(posinf=0, neginf=0)
    dot_xp, dot_xx = (xy * pix).sum(-1), xy.square().sum(-1)
    f = dot_xp.mean(1) / dot_xx.mean(1)
    for _ in range(WEISZFELD_STEPS):
        w = (pix - f.view(-1, 1, 1) * xy).norm(dim=-1).clamp_min(1e-8).reciprocal()
        f = (w * dot_xp).mean(1) / (w * dot_xx).mean(1)
    return f.clamp_min(0)


class Ttt3rEstimator:
    """Load with ``from_pretrained`` (a released checkpoint file, or a directory holding one)."""

    def __init__(self, model: Cut3rModel, *, size: int = 512, update: Update = "ttt3r", batch_size: int = 8,
                 progress: bool = True, source: str = "") -> None:
        if size % model.config.patch_size:
            raise ValueError(f"ttt3r input size {size} is not a multiple of the patch size {model.config.patch_size}")
        self.model, self.size, self.update = model.eval(), size, update
        self.batch_size, self.progress, self.source = batch_size, progress, source
        self.metric = True  # CUT3R is trained on metric data; its units are roughly metres

    @classmethod
    def from_pretrained(cls, path: str | Path | None, *, torch_dtype: str | torch.dtype = "auto",
                        device: str | torch.device = "cpu", **kwargs) -> "Ttt3rEstimator":
        cfg, sd, f = read_checkpoint(path)
        with torch.device("meta"):
            model = Cut3rModel(cfg)
        model = model.to_empty(device="cpu")
        load_weights(model, sd, f)
        dtype = DTYPES[torch_dtype] if isinstance(torch_dtype, str) else torch_dtype
        if dtype is not None and dtype != torch.float32:
            if torch.device(device).type == "cpu":
                raise CheckpointError(f"ttt3r dtype {dtype} needs a CUDA device (the CPU runs float32)")
            model = model.to(dtype)
            model.downstream_head.float()  # the heads run in float32, as the authors' autocast-free heads do
        return cls(model.to(device), source=str(f), **kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.patch_embed.proj.weight.device

    def _geometry(self, H: int, W: int) -> tuple[int, int, int, int, float]:
        scale = self.size / max(H, W)
        h, w = int(H * scale), int(W * scale)
        return h, w, (self.size - h) // 2, (self.size - w) // 2, scale

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, H, W, 3) in [0, 1] -> (N, 3, size, size) in [-1, 1]."""
        H, W = frames.shape[1:3]
        h, w, top, left, _ = self._geometry(H, W)
        x = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=(h, w), mode="bilinear", align_corners=False,
                          antialias=True)
        x = F.pad(x, (left, self.size - w - left, top, self.size - h - top), value=0.0)
        return x * 2 - 1

    def _finish(self, out: FrameOutput, H: int, W: int) -> tuple[torch.Tensor, ...]:
        h, w, top, left, scale = self._geometry(H, W)
        S = self.size
        f = weiszfeld_focal(out.points, (S / 2, S / 2)) / scale
        K = torch.zeros(len(f), 3, 3, device=f.device)
        K[:, 0, 0], K[:, 1, 1], K[:, 2, 2] = f, f, 1.0
        K[:, 0, 2], K[:, 1, 2] = (S / 2 - left) / scale, (S / 2 - top) / scale
        crop = lambda m: F.interpolate(m[:, None, top:top + h, left:left + w], size=(H, W), mode="bilinear",
                                       align_corners=False)[:, 0]
        conf = 1 - 1 / crop(out.confidence.float())
        return crop(out.points[..., 2].float()).cpu(), pose_to_c2w(out.pose.float()).cpu(), K.cpu(), conf.cpu()

    @torch.no_grad()
    def run(self, frames: torch.Tensor) -> Ttt3rOutput:
        """frames (V, H, W, 3) in [0, 1], any device; outputs on the CPU."""
        from tqdm.auto import tqdm

        frames = check_frames(frames)
        V, H, W, _ = frames.shape
        state, outs = self.model.initial_state(1), []
        size = (self.size, self.size)
        bar = tqdm(total=V, desc="ttt3r", unit="frame", disable=not self.progress or V < 2, leave=False)
        for i in range(0, V, self.batch_size):
            feats, pos = self.model.encode(self.preprocess(frames[i:i + self.batch_size].to(self.device)))
            for j in range(len(feats)):
                out, state = self.model.step(state, feats[j:j + 1], pos[j:j + 1], size, update=self.update)
                outs.append(self._finish(out, H, W))
                bar.update()
        bar.close()
        depth, c2w, K, conf = (torch.cat(x) for x in zip(*outs))
        return Ttt3rOutput(depth, c2w, K, conf)

    # -- the interface the geometry stage uses for depth models --
    def predict(self, frames: torch.Tensor, *, K: torch.Tensor | None = None) -> Ttt3rPrediction:
        out = self.run(frames)
        dev = frames.device
        return Ttt3rPrediction(out.depth.to(dev), out.K if K is None else torch.as_tensor(K).float().expand_as(out.K).clone(),
                               intrinsics_source="model" if K is None else "given")

    def to_depth(self, pred: Ttt3rPrediction) -> torch.Tensor:
        return pred.values.clamp_min(1e-6)

    def estimate(self, frames: torch.Tensor, *, K: torch.Tensor | None = None,
                 w2c: torch.Tensor | None = None) -> GeometryEstimate:
        out = self.run(frames)
        return GeometryEstimate(out.depth, out.K if K is None else torch.as_tensor(K).float().expand_as(out.K).clone(),
                                out.w2c if w2c is None else torch.as_tensor(w2c).float().clone(), out.confidence,
                                {"metric": 1.0})
