"""Benchmark on a real photo with measured depth: Middlebury 2014 "Motorcycle" (scikit-image's copy), left view in,
right view out, scored against the real right view on co-visible pixels (docs/REAL_PHOTO.md)."""

from .benchmark import RightView, aligned_model_depth, evaluate, measured_input_depth, predict_right_view
from .occlusion import Covisibility, covisibility, fill_toward_background, lr_occlusion, right_disparity
from .scores import depth_errors, masked_ssim, score_right_view, ssim_map
from .stereo import StereoPair, disparity_to_depth, load_motorcycle, stereo_trajectory

__all__ = [
    "Covisibility", "RightView", "StereoPair", "aligned_model_depth", "covisibility", "depth_errors",
    "disparity_to_depth", "evaluate", "fill_toward_background", "load_motorcycle", "lr_occlusion",
    "masked_ssim", "measured_input_depth", "predict_right_view", "right_disparity", "score_right_view",
    "ssim_map", "stereo_trajectory",
]
