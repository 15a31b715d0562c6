"""TTT3R's depth and poses of the history frames, brought into the trajectory's world.

``authors`` (WorldWarp's code): poses are re-expressed relative to the last history frame, which keeps its
commanded pose; depth stays in the model's units; no scale is fitted. ``sim3`` (ours): the estimated cameras are
Sim(3)-aligned to the commanded ones and the depth is scaled with them. Both report the Sim(3) residuals (the
worst frame's rotation and translation error after alignment, and the scale), plus the depth's relative RMS
difference from the cache's rendered depth where the cache covers the frame, so drift shows in MLflow either way.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from .align import align_poses

Align = Literal["authors", "sim3"]


def _depth_residual(depth: torch.Tensor, rendered: torch.Tensor, valid: torch.Tensor) -> float:
    if not bool(valid.any()):
        return math.nan
    rel = (depth[valid] - rendered[valid]) / rendered[valid]
    return float(torch.sqrt((rel.double() ** 2).mean()))


def ttt3r_history(out, cmd_w2c: torch.Tensor, rendered_depth: torch.Tensor, valid: torch.Tensor,
                  align: Align) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, float]]:
    """``out``: Ttt3rOutput of the history frames -> (depth, w2c, confidence, residuals), w2c in the world of
    ``cmd_w2c`` (V, 4, 4)."""
    cmd_w2c = cmd_w2c.detach().cpu().double()
    est_w2c = out.w2c.double()
    al = align_poses(est_w2c.float(), cmd_w2c.float(), with_scale=True)
    if align == "sim3":
        w2c, scale = al.aligned_w2c.double(), float(al.sim3.s)
    else:  # the last frame is the anchor: world <- last camera (commanded) <- last camera (estimated) <- frame
        c2w = torch.linalg.inv(cmd_w2c[-1]) @ est_w2c[-1] @ torch.linalg.inv(est_w2c)
        w2c, scale = torch.linalg.inv(c2w), 1.0
    depth = out.depth * scale
    info = {"pose_rotation_deg": al.rotation_err_deg, "pose_translation": al.translation_err,
            "pose_scale": float(al.sim3.s), "depth_scale": scale, "depth_shift": 0.0,
            "depth_residual": _depth_residual(depth, rendered_depth.detach().cpu().float(), valid.cpu()),
            "depth_metric": 1.0}
    return depth, w2c.float(), out.confidence, info
