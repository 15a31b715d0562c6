"""Geometry of the history frames: depth, intrinsics, poses and confidence, aligned to the trajectory.

Light to import: transformers and the models load only inside ``MonocularDepthEstimator.from_pretrained``
and the ``standins`` builders.
"""

from .align import AlignmentError, DepthAlignment, PoseAlignment, align_depth, align_poses
from .ground_truth import (RGBDFolderError, RGBDSequence, SceneGroundTruth, SequenceGroundTruth, load_rgbd_folder,
                           load_tum_rgbd)
from .history import estimate_history_geometry, make_estimator
from .pnp import PnPResult, PnPSettings, estimate_poses_pnp
from .types import GeometryEstimate, GeometryEstimator

__all__ = [
    "AlignmentError", "DepthAlignment", "GeometryEstimate", "GeometryEstimator", "PnPResult", "PnPSettings",
    "PoseAlignment", "RGBDFolderError", "RGBDSequence", "SceneGroundTruth", "SequenceGroundTruth", "align_depth",
    "align_poses", "estimate_history_geometry", "estimate_poses_pnp", "load_rgbd_folder", "load_tum_rgbd",
    "make_estimator",
]
