"""The geometry estimator of stage 1 (depth, intrinsics and poses of the history frames)."""

from typing import Literal

from pydantic import Field

from .base import Section


class EstimatorConfig(Section):
    backend: Literal["ground_truth", "depth_anything", "depth_pro"] = Field(
        "ground_truth", description="ground_truth: the cache's rendered depth as is; depth_anything / depth_pro: a "
                                    "monocular depth model from model_dir, aligned to the rendered depth")
    model_dir: str | None = Field(None, description="local Depth Anything V2 or Depth Pro directory (transformers layout)")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="auto: float32")
    batch_size: int = Field(4, ge=1, le=256, description="frames per model forward")
    fov_deg: float = Field(60.0, gt=1, lt=179, description="horizontal FOV when neither K nor the model gives intrinsics")
    align: Literal["auto", "scale", "scale_shift"] = Field(
        "auto", description="depth alignment; auto: scale+shift for relative models, scale for metric ones")
    align_space: Literal["auto", "depth", "inverse"] = Field(
        "auto", description="where the fit is linear; auto: inverse depth for relative (disparity) models, depth for metric")
    min_confidence: float = Field(0.5, ge=0, le=1, description="rendered alpha/mask at least this counts as valid for alignment")
    min_valid_pixels: int = Field(256, ge=16, description="fewer valid pixels in a frame: its depth is not aligned")
    fallback_median_depth: float = Field(2.0, gt=0, description="median depth of an unaligned relative prediction (metres)")
    hole_confidence: float = Field(0.5, ge=0, le=1, description="confidence of model depth where the cache had no geometry")
    pose: Literal["commanded", "pnp"] = Field(
        "commanded", description="commanded: the trajectory's poses; pnp: feature matching + PnP against the rendered depth, "
                                 "then Sim(3)-aligned to the commanded poses")
    pnp_align: Literal["sim3", "rigid", "none"] = Field(
        "sim3", description="how PnP poses are brought onto the commanded ones (they already live in the cache's world)")
    features: Literal["sift", "orb"] = "sift"
    pnp_reprojection_px: float = Field(2.0, gt=0, le=50, description="RANSAC inlier threshold")
    pnp_min_inliers: int = Field(12, ge=6, description="fewer inliers: the frame keeps its commanded pose (confidence 0)")
