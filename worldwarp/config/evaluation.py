"""Evaluation against ground truth (PSNR, SSIM, LPIPS, camera accuracy)."""

from pydantic import Field

from .base import Section


class EvalConfig(Section):
    pose_stride: int = Field(4, ge=1, le=100, description="frame gap of the pairs whose relative pose is re-estimated")
    lpips_weights: str | None = Field(None, description="directory holding alexnet.pth + alex.pth; LPIPS is skipped without it")
    batch: int = Field(16, ge=1, le=1024, description="frames per evaluation batch")
