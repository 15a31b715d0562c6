"""Evaluation against ground truth: image quality per frame and camera accuracy from the frames alone."""

from .camera import PoseErrors, relative_pose_errors
from .image import LpipsUnavailable, lpips_scorer, psnr, ssim
from .report import evaluate_video, summarize, write_report

__all__ = ["PoseErrors", "relative_pose_errors", "LpipsUnavailable", "lpips_scorer", "psnr", "ssim",
           "evaluate_video", "summarize", "write_report"]
