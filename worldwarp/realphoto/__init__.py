"""Benchmark on a real photo with measured depth: a rectified stereo pair (yours via ``pair_io.load_pair``, else
Middlebury 2014 "Motorcycle", scikit-image's copy), left view in, right view out, scored against the real right
view (docs/REAL_PHOTO.md)."""

from .benchmark import RightView, aligned_model_depth, evaluate, measured_input_depth, predict_right_view
from .occlusion import Covisibility, covisibility, fill_toward_background, lr_occlusion, right_disparity
from .pair_io import RealPhotoError, load_pair, read_disparity, read_image
from .scores import depth_errors, masked_ssim, score_right_view, ssim_map
from .stereo import StereoPair, disparity_to_depth, load_motorcycle, make_pair, stereo_trajectory

__all__ = [
    "Covisibility", "RealPhotoError", "RightView", "StereoPair", "aligned_model_depth", "covisibility", "depth_errors",
    "disparity_to_depth", "evaluate", "fill_toward_background", "load_motorcycle", "load_pair", "lr_occlusion",
    "make_pair", "masked_ssim", "measured_input_depth", "predict_right_view", "read_disparity", "read_image",
    "right_disparity", "score_right_view", "ssim_map", "stereo_trajectory",
]
