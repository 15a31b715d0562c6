"""Bringing an estimator's depth and poses into the trajectory's frame and scale.

Depth: least squares of ``scale * pred + shift`` against the reference on valid pixels (scale-only starts
from the median ratio), one round of outlier trimming at 3 robust sigmas, least-squares refit on the kept
pixels. A non-positive scale is refused (AlignmentError). ``space`` says where the fit is linear:

- ``"depth"``: ``pred`` is z-depth; fit ``s * pred (+ b) ~ ref``. Right for metric models (Depth Pro), whose
  error is mostly a global scale.
- ``"inverse"``: ``pred`` is an inverse-depth-like map (disparity); fit ``s * pred + b ~ 1 / ref`` and return
  ``1 / (s * pred + b)``. Right for Depth Anything V2: its relative output is affine-invariant *disparity*,
  and an affine map of disparity is not an affine map of depth, so a scale+shift fit in depth space would
  bend the geometry (near planes too near or too far). The inverse fit also weights near pixels more,
  which is where the warp needs accuracy.

Poses: the Sim(3) of ``worldwarp.geometry.align.align_sim3`` (rotation from orientations, scale and
translation from centres); depth seen by the aligned cameras is multiplied by its scale.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from ..geometry.align import Sim3Result, align_sim3

Mode = Literal["scale", "scale_shift"]
Space = Literal["depth", "inverse"]

TRIM_SIGMAS = 3.0  # residuals beyond this many robust sigmas (1.4826 * MAD) are dropped before the refit
MIN_PIXELS = 16  # fewer valid pixels than this: the fit is refused


class DepthAlignment(NamedTuple):
    aligned: torch.Tensor  # z-depth in the reference's units, same shape as pred
    scale: float
    shift: float  # in the fitted space (0 for mode="scale")
    residual: float  # RMS of |aligned - ref| / ref over the valid pixels (trimmed ones included)


class AlignmentError(ValueError):
    """Too few valid pixels, or a degenerate fit."""


def _fit(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, mode: Mode) -> tuple[float, float]:
    """Weighted least squares y ~ s x (+ b)."""
    if mode == "scale":
        den = (w * x * x).sum()
        if den <= 0:
            raise AlignmentError("depth alignment: prediction is zero on all valid pixels")
        return float((w * x * y).sum() / den), 0.0
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    var = (w * (x - mx) ** 2).sum()
    if var <= 1e-12 * max(float((w * x * x).sum()), 1e-30):
        raise AlignmentError("depth alignment: prediction is constant on the valid pixels, scale+shift is undetermined")
    s = (w * (x - mx) * (y - my)).sum() / var
    return float(s), float(my - s * mx)


def align_depth(pred: torch.Tensor, ref: torch.Tensor, valid: torch.Tensor | None = None, mode: Mode = "scale_shift",
                space: Space = "depth", weights: torch.Tensor | None = None) -> DepthAlignment:
    """Fit ``pred`` to the reference z-depth ``ref`` (same shape) on ``valid`` pixels; see the module doc.

    ``weights`` (e.g. confidence) weight the least squares. Aligned depth is positive and finite everywhere:
    in inverse space, pixels whose fitted disparity is <= 0 (beyond infinity) get 10x the reference's
    farthest valid depth.
    """
    pred64, ref64 = pred.detach().double(), ref.detach().double()
    ok = torch.isfinite(pred64) & torch.isfinite(ref64) & (ref64 > 0)
    if valid is not None:
        ok &= valid.bool()
    if space == "depth":
        ok &= pred64 > 0
    w_all = torch.ones_like(pred64) if weights is None else weights.detach().double().clamp_min(0)
    ok &= w_all > 0
    if int(ok.sum()) < MIN_PIXELS:
        raise AlignmentError(f"depth alignment needs at least {MIN_PIXELS} valid pixels, got {int(ok.sum())}")
    x, w = pred64[ok], w_all[ok]
    y = ref64[ok] if space == "depth" else 1.0 / ref64[ok]
    # first fit: the median ratio for scale-only (one wild pixel must not set the scale), least squares otherwise
    s, b = (float((y / x).median()), 0.0) if mode == "scale" else _fit(x, y, w, mode)
    r = (s * x + b - y).abs()
    sigma = 1.4826 * r.median()
    keep = r <= max(TRIM_SIGMAS * float(sigma), 1e-9 * float(y.abs().max()))
    if int(keep.sum()) >= MIN_PIXELS:
        s, b = _fit(x[keep], y[keep], w[keep], mode)
    if not s > 0:
        raise AlignmentError(f"depth alignment gave scale {s:.3g} <= 0: the prediction is anti-correlated with the reference")
    fitted = s * pred64 + b
    if space == "depth":
        far = float(ref64[ok].max()) * 10.0
        aligned = torch.where(fitted > 0, fitted, torch.full_like(fitted, far))
    else:
        far = float(ref64[ok].max()) * 10.0
        aligned = torch.where(fitted > 1.0 / far, 1.0 / fitted.clamp_min(1.0 / far), torch.full_like(fitted, far))
    aligned = torch.nan_to_num(aligned, nan=far, posinf=far, neginf=far)
    rel = (aligned[ok] - ref64[ok]) / ref64[ok]
    residual = float(torch.sqrt((rel**2).mean()))
    return DepthAlignment(aligned.to(pred.dtype if pred.is_floating_point() else torch.float32), s, b, residual)


class PoseAlignment(NamedTuple):
    aligned_w2c: torch.Tensor  # (N, 4, 4) float32, in the commanded world and scale
    sim3: Sim3Result
    rotation_err_deg: float  # worst frame after alignment
    translation_err: float  # worst frame after alignment, commanded units


def align_poses(est_w2c: torch.Tensor, cmd_w2c: torch.Tensor, *, min_baseline: float = 1e-3,
                fallback_scale: float = 1.0, with_scale: bool = True) -> PoseAlignment:
    """Sim(3) of estimated poses onto commanded poses of the same frames; errors are the worst frame's.
    Scale the estimator's depth with ``result.sim3.apply_depth(depth)``. ``with_scale=False``: rigid
    (s = ``fallback_scale``), for estimates whose scale is already the reference's."""
    res = align_sim3(est_w2c, cmd_w2c, min_baseline=min_baseline, fallback_scale=fallback_scale, with_scale=with_scale)
    return PoseAlignment(res.aligned_w2c.float(), res, float(res.rot_err_deg.max()), float(res.trans_err.max()))
