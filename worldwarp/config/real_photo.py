"""The real-photo benchmark (benchmarks/real_photo.py, dvc stage real_photo): Middlebury's Motorcycle pair, left
view in, right view out. The cache, mask and denoiser knobs are the splat / diffusion / estimator sections'."""

from pydantic import Field

from .base import Section


class RealPhotoConfig(Section):
    downscale: int = Field(2, ge=1, le=8, description="integer area downscale of scikit-image's 500x741 pair (then "
                           "centre-cropped to multiples of 16): 2 -> 240x368")
    frames: int = Field(5, ge=2, le=97, description="cameras from the left view to the right one (the last is the right view)")
    steps: int = Field(100, ge=0, le=100_000, description="3DGS steps of this benchmark's cache (splat.steps is the "
                       "longshot's); 100 at 240x368 takes about 2 min on 2 CPU cores")
    depth_model: bool = Field(True, description="also run with a depth model's depth, aligned to the measured one: "
                              "estimator.model_dir when estimator.backend is depth_anything or depth_pro, else the "
                              "tiny random Depth Anything stand-in (a plumbing check, not a model's quality)")
