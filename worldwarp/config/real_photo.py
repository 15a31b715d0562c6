"""The real-photo benchmark (``worldwarp real-photo``, benchmarks/real_photo.py, dvc stage real_photo): a rectified
stereo pair with the left view's disparity, left view in, right view out (docs/REAL_PHOTO.md). Middlebury's
Motorcycle when no pair is given. The cache, mask and denoiser knobs are the splat / diffusion / estimator sections'."""

from typing import Literal

import math

from pydantic import Field, field_validator, model_validator

from .base import Section

PAIR_KNOBS = ("focal", "baseline", "doffs", "cx", "cy", "disparity_scale", "unknown")


class RealPhotoConfig(Section):
    left: str | None = Field(None, description="left image (PNG/JPEG, 8 or 16 bit); None: Middlebury's Motorcycle "
                             "(scikit-image's copy)")
    right: str | None = Field(None, description="right image, same size, rectified with the left one")
    disparity: str | None = Field(None, description="left view's disparity (x_right = x_left - d): PNG with "
                                  "disparity_scale, or PFM")
    focal: float | None = Field(None, description="focal length in px at the files' size")
    baseline: float | None = Field(None, description="baseline in metres")
    doffs: float = Field(0.0, description="cx_right - cx_left in px at the files' size (Middlebury's doffs)")
    cx: float | None = Field(None, description="left principal point x in px, pixel centres at integers "
                             "(Middlebury's calib.txt); None: the image centre")
    cy: float | None = Field(None, description="as cx, vertical")
    disparity_scale: float = Field(1.0, gt=0, description="stored value / disparity_scale = disparity in px")
    unknown: Literal["auto", "0", "inf", "nan"] = Field(
        "auto", description="the disparity value meaning 'no ground truth' (non-finite values never count as "
        "measured); auto: 0 for PNG, inf for PFM")
    downscale: int = Field(2, ge=1, le=8, description="integer area downscale of the pair (then centre-cropped to "
                           "multiples of 16): Motorcycle (scikit-image's 500x741) at 2 -> 240x368")
    frames: int = Field(5, ge=2, le=97, description="cameras from the left view to the right one (the last is the right view)")
    steps: int = Field(100, ge=0, le=100_000, description="3DGS steps of this benchmark's cache (splat.steps is the "
                       "longshot's); 100 at 240x368 takes about 2 min on 2 CPU cores")
    depth_model: bool = Field(True, description="also run with a depth model's depth, aligned to the measured one: "
                              "estimator.model_dir when estimator.backend is depth_anything or depth_pro, else the "
                              "tiny random Depth Anything stand-in (a plumbing check, not a model's quality)")

    @field_validator("unknown", mode="before")
    @classmethod
    def _unknown_as_text(cls, v):
        # YAML reads `unknown: 0` as a number and `.inf` / `.nan` as floats: the same three choices
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return "nan" if math.isnan(v) else "inf" if math.isinf(v) and v > 0 else str(v) if v != 0 else "0"
        return v

    @model_validator(mode="after")
    def _pair(self) -> "RealPhotoConfig":
        files = {"left": self.left, "right": self.right, "disparity": self.disparity}
        given = [k for k, v in files.items() if v is not None]
        if given and len(given) < 3:
            missing = ", ".join(f"real_photo.{k}" for k in files if k not in given)
            raise ValueError(f"a stereo pair needs left, right and disparity: {missing} missing")
        if given and (self.focal is None or self.baseline is None):
            raise ValueError("a stereo pair needs its calibration: real_photo.focal and real_photo.baseline")
        if not given:
            fields = type(self).model_fields
            set_here = [k for k in PAIR_KNOBS if getattr(self, k) != fields[k].default]
            if set_here:  # a knob that does not apply is an error, not ignored
                raise ValueError(f"real_photo.{set_here[0]} applies to your own pair only (Motorcycle carries its "
                                 "own calibration): give real_photo.left, right and disparity")
        return self
