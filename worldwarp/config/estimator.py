"""The geometry estimator of stage 1 (depth, intrinsics and poses of the history frames)."""

from typing import Literal

from pydantic import Field, model_validator

from .base import Section, When

_B = ("estimator.backend",)
_MODEL = When("estimator.backend is a model (depth_anything, depth_pro or ttt3r)",
              lambda c: c.estimator.backend != "ground_truth", _B)
_MONO = When("estimator.backend is depth_anything or depth_pro",
             lambda c: c.estimator.backend in ("depth_anything", "depth_pro"), _B)
_TTT3R = When("estimator.backend is ttt3r", lambda c: c.estimator.backend == "ttt3r", _B)
_PNP = When("estimator.pose is pnp", lambda c: c.estimator.pose == "pnp", ("estimator.pose",))


class EstimatorConfig(Section):
    APPLIES = {
        **dict.fromkeys(("model_dir", "dtype", "batch_size"), _MODEL),
        **dict.fromkeys(("fov_deg", "fallback_median_depth", "align", "align_space", "min_valid_pixels",
                         "hole_confidence"), _MONO),
        "pose": When("estimator.backend is not ttt3r (it estimates poses itself)",
                     lambda c: c.estimator.backend != "ttt3r", _B),
        **dict.fromkeys(("pnp_align", "features", "pnp_reprojection_px", "pnp_min_inliers"), _PNP),
        **dict.fromkeys(("ttt3r_size", "ttt3r_update", "ttt3r_align"), _TTT3R),
    }
    backend: Literal["ground_truth", "depth_anything", "depth_pro", "ttt3r"] = Field(
        "ground_truth", description="ground_truth: the cache's rendered depth as is; depth_anything / depth_pro: a "
                                    "monocular depth model from model_dir, aligned to the rendered depth; ttt3r: the "
                                    "authors' recurrent estimator (depth and poses of the whole history) from model_dir")
    model_dir: str | None = Field(None, description="local Depth Anything V2 or Depth Pro directory (transformers layout), "
                                                    "or for ttt3r the released checkpoint (cut3r_512_dpt_4_64.pth) or a "
                                                    "directory holding it")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="auto: float32")
    batch_size: int = Field(4, ge=1, le=256, description="frames per model forward (ttt3r: per encoder forward)")
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
                                 "then Sim(3)-aligned to the commanded poses (ttt3r estimates poses itself: see ttt3r_align)")
    pnp_align: Literal["sim3", "rigid", "none"] = Field(
        "sim3", description="how PnP poses are brought onto the commanded ones (they already live in the cache's world)")
    features: Literal["sift", "orb"] = "sift"
    pnp_reprojection_px: float = Field(2.0, gt=0, le=50, description="RANSAC inlier threshold")
    pnp_min_inliers: int = Field(12, ge=6, description="fewer inliers: the frame keeps its commanded pose (confidence 0)")
    ttt3r_size: int = Field(512, ge=32, le=2048, multiple_of=16, description="ttt3r input side: frames are scaled "
                            "to fit and padded to a square of this size (the released model: 512)")
    ttt3r_update: Literal["ttt3r", "cut3r"] = Field(
        "ttt3r", description="state update: ttt3r (per-token gate from the state's attention, as WorldWarp runs it) "
                             "or cut3r (replace the state every frame)")
    ttt3r_align: Literal["authors", "sim3"] = Field(
        "sim3", description="how ttt3r poses meet the trajectory: authors = re-expressed relative to the last history "
                            "frame, depth in the model's units (no scale alignment, as WorldWarp's code); sim3 = "
                            "Sim(3)-aligned to the commanded history poses, depth scaled with them")

    @model_validator(mode="after")
    def _check(self) -> "EstimatorConfig":
        if self.backend == "ttt3r" and self.pose == "pnp":
            raise ValueError("estimator.pose=pnp is for the monocular depth backends; ttt3r estimates poses itself "
                             "(choose how they meet the trajectory with estimator.ttt3r_align)")
        return self
