"""Evaluation against ground truth: image quality per frame, camera accuracy from the frames alone, FID/KID
of frame sets (the Inception network loads on first use only)."""

from .camera import PoseErrors, relative_pose_errors
from .fid import FidScore, InceptionError, KidScore, fid, kid
from .image import LpipsUnavailable, lpips_scorer, psnr, ssim
from .report import evaluate_video, summarize, write_report

__all__ = ["PoseErrors", "relative_pose_errors", "FidScore", "InceptionError", "KidScore", "fid", "kid",
           "LpipsUnavailable", "lpips_scorer", "psnr", "ssim", "evaluate_video", "summarize", "write_report"]
