"""Monocular depth through transformers' AutoModelForDepthEstimation, from a local directory.

- Depth Anything V2 (model_type "depth_anything", relative): ``predicted_depth`` is affine-invariant
  disparity (larger = nearer, unknown scale and shift) -> ``space="inverse"``, ``metric=False``. Its
  metric fine-tunes (``depth_estimation_type="metric"``) give metres -> ``space="depth"``, ``metric=True``.
- Depth Pro (model_type "depth_pro", metric): ``predicted_depth`` is *canonical inverse depth*, and with
  ``use_fov_model`` the model also returns ``field_of_view`` (horizontal, degrees). As in transformers'
  post-processing, metric depth = f / (W * canonical) with the focal length f in pixels at image width W.
  f comes from the given K, else the model's FOV, else the ``fov_deg`` knob.
transformers is imported only inside ``from_pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..diffusion.checkpoint import CheckpointError
from ..geometry.cameras import intrinsics_from_fov
from .model_dir import check_model_dir, read_preprocessor_config
from .preprocess import resize_map, to_pixel_values
from .types import GeometryEstimate, check_frames, identity_poses

Kind = Literal["depth_anything", "depth_pro"]
WHAT = {"depth_anything": "Depth Anything V2 (DepthAnythingForDepthEstimation)",
        "depth_pro": "Depth Pro (DepthProForDepthEstimation)"}
CANONICAL_CLAMP = (1e-4, 1e4)  # transformers' Depth Pro post-processing clamps the same way


@dataclass
class DepthPrediction:
    values: torch.Tensor  # (V, H, W): z-depth (space="depth") or disparity-like (space="inverse")
    space: Literal["depth", "inverse"]
    metric: bool  # True: values are metres (up to the model's error); False: only up to scale (and shift)
    K: torch.Tensor  # (V, 3, 3)
    intrinsics_source: Literal["given", "model", "fov_knob"]


def _dtype(name) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    return {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16,
            "float16": torch.float16}[name]


class MonocularDepthEstimator:
    """A GeometryEstimator giving depth and intrinsics from single frames (poses: the given ones or identity)."""

    def __init__(self, model: torch.nn.Module, preprocessor: dict, kind: Kind, *, fov_deg: float = 60.0,
                 fallback_median_depth: float = 2.0, batch_size: int = 4, source: str = "") -> None:
        self.model, self.preprocessor, self.kind = model.eval(), preprocessor, kind
        self.fov_deg, self.fallback_median_depth, self.batch_size, self.source = fov_deg, fallback_median_depth, batch_size, source
        cfg = model.config
        self.metric = kind == "depth_pro" or getattr(cfg, "depth_estimation_type", "relative") == "metric"
        self.space: Literal["depth", "inverse"] = "inverse" if kind == "depth_anything" and not self.metric else "depth"

    @classmethod
    def from_pretrained(cls, path: str | Path, *, kind: Kind | None = None, torch_dtype="float32",
                        device: str | torch.device = "cpu", **kwargs) -> "MonocularDepthEstimator":
        want = (kind,) if kind else ("depth_anything", "depth_pro")
        what = " or ".join(WHAT[k] for k in want)
        cfg = check_model_dir(path, want, what)
        pre = read_preprocessor_config(path, what)
        from transformers import AutoModelForDepthEstimation

        try:
            model = AutoModelForDepthEstimation.from_pretrained(str(path), dtype=_dtype(torch_dtype))
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{path} could not be loaded as {what}: {first}") from e
        return cls(model.to(device), pre, cfg["model_type"], source=str(path), **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def _forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        dtype = next(self.model.parameters()).dtype
        outs, fovs = [], []
        for i in range(0, len(frames), self.batch_size):
            px = to_pixel_values(frames[i:i + self.batch_size].to(self.device), self.preprocessor, self.kind)
            out = self.model(pixel_values=px.to(dtype))
            outs.append(out.predicted_depth.float())
            fov = getattr(out, "field_of_view", None)
            fovs.append(None if fov is None else fov.float().reshape(-1))
        raw = resize_map(torch.cat(outs), tuple(frames.shape[1:3]))
        return raw, (None if any(f is None for f in fovs) else torch.cat(fovs))

    def _intrinsics(self, V: int, H: int, W: int, K, fov) -> tuple[torch.Tensor, str]:
        if K is not None:
            K = torch.as_tensor(K, dtype=torch.float32)
            return (K.expand(V, 3, 3) if K.ndim == 2 else K).clone(), "given"
        if fov is not None:
            fov = fov.cpu()
            ok = torch.isfinite(fov) & (fov > 1.0) & (fov < 179.0)  # random or broken heads give nonsense FOVs
            Ks = [intrinsics_from_fov(W, H, float(f) if good else self.fov_deg) for f, good in zip(fov, ok)]
            return torch.stack(Ks), "model" if bool(ok.all()) else "fov_knob"
        return intrinsics_from_fov(W, H, self.fov_deg).expand(V, 3, 3).clone(), "fov_knob"

    def predict(self, frames: torch.Tensor, *, K: torch.Tensor | None = None) -> DepthPrediction:
        """The model's output at the frames' resolution, in its own space (see the module doc)."""
        frames = check_frames(frames)
        V, H, W, _ = frames.shape
        raw, fov = self._forward(frames)
        Ks, src = self._intrinsics(V, H, W, K, fov if self.kind == "depth_pro" else None)
        if self.kind == "depth_pro":
            fx = Ks[:, 0, 0].to(raw).view(V, 1, 1)
            raw = fx / (W * raw.clamp(*CANONICAL_CLAMP))
        return DepthPrediction(raw.to(frames.device), self.space, self.metric, Ks, src)

    def to_depth(self, pred: DepthPrediction) -> torch.Tensor:
        """Depth without a reference: metric output as is; relative disparity d as depth m * median(d) / d
        (median depth = ``fallback_median_depth``; only the shape of the scene is meaningful)."""
        if pred.space == "depth":
            return pred.values.clamp_min(1e-6)
        d = pred.values
        dmax = d.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
        d = torch.maximum(d, 1e-3 * dmax)  # disparity 0 is infinitely far: cap at 1000x the nearest
        return self.fallback_median_depth * d.flatten(1).median(1).values.view(-1, 1, 1) / d

    def estimate(self, frames: torch.Tensor, *, K: torch.Tensor | None = None,
                 w2c: torch.Tensor | None = None) -> GeometryEstimate:
        pred = self.predict(frames, K=K)
        depth = self.to_depth(pred)
        V = depth.shape[0]
        poses = identity_poses(V) if w2c is None else torch.as_tensor(w2c, dtype=torch.float32).clone()
        conf = torch.isfinite(depth).float()  # these models give no confidence
        return GeometryEstimate(depth, pred.K, poses, conf, {"metric": float(pred.metric)})
