"""Which pixels of the right view the left view also sees, from disparity maps (rectified pair, x_r = x_l - d_l).

- ``right_disparity``: the left disparity forward-warped into the right view. Neighbouring left pixels whose
  disparities differ by at most ``jump`` px are one surface: the span between their right-view positions is
  covered, with interpolated disparity, and the larger disparity (nearer surface) wins where spans overlap.
  A larger jump is a depth edge; the gap it leaves in the right view is what only the right camera sees.
  Right pixels no span reaches get NaN: disoccluded, or outside the left camera's view.
- ``lr_occlusion``: the left-right consistency check on two disparity maps: a right pixel is seen by the left
  view iff the left disparity where it lands (x_r + d_r) agrees with its own within ``tol`` px.
- ``covisibility``: both, on a left map with unknown pixels (NaN): those are filled toward the background
  first, and right pixels that only a filled span covers are ``unknown`` (neither co-visible nor occluded).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SPAN_PX = 3  # a one-surface span covers at most 1 + jump px of the right view: 3 right pixels for jump <= 1


def fill_toward_background(disparity: np.ndarray) -> np.ndarray:
    """NaN runs of each row take the smaller (farther) of the valid disparities at their two ends, as stereo
    benchmarks fill occlusions; a run touching the image border takes its one valid end."""
    d = disparity.astype(np.float32).copy()
    W = d.shape[1]
    cols = np.arange(W)
    for row in d:
        ok = np.isfinite(row)
        if ok.all() or not ok.any():
            continue
        idx = np.where(ok, cols, -1)
        left = np.maximum.accumulate(idx)  # last valid column at or before x
        right = np.minimum.accumulate(np.where(ok, cols, W)[::-1])[::-1]  # first valid column at or after x
        lv = np.where(left >= 0, row[np.clip(left, 0, W - 1)], np.inf)
        rv = np.where(right < W, row[np.clip(right, 0, W - 1)], np.inf)
        row[~ok] = np.minimum(lv, rv)[~ok]
    return d


def right_disparity(disparity: np.ndarray, jump: float = 1.0) -> np.ndarray:
    """(H, W) right-view disparity forward-warped from the left one (see the module doc); NaN where uncovered.
    Pixel centres are at integer + 0.5; a left pixel x lands at x + 0.5 - d in the right view."""
    if jump > SPAN_PX - 2:
        raise ValueError(f"jump must be <= {SPAN_PX - 2} px, got {jump}")
    H, W = disparity.shape
    d = disparity.astype(np.float64)
    pos = np.arange(W) + 0.5 - d  # right-view x of each left pixel centre
    out = np.full(H * W, -np.inf)
    rows = np.repeat(np.arange(H), W).reshape(H, W)

    def splat(j: np.ndarray, val: np.ndarray, r: np.ndarray, keep: np.ndarray) -> None:
        keep = keep & (j >= 0) & (j < W) & np.isfinite(val)
        np.maximum.at(out, r[keep] * W + j[keep], val[keep])

    # every valid pixel covers the right pixel it lands in (spans shorter than a pixel would miss it)
    splat(np.floor(np.nan_to_num(pos, nan=-1.0)).astype(np.int64), d, rows, np.isfinite(d))
    a, b = pos[:, :-1], pos[:, 1:]
    da, db = d[:, :-1], d[:, 1:]
    surface = np.isfinite(da) & np.isfinite(db) & (np.abs(db - da) <= jump)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    j0 = np.ceil(np.nan_to_num(lo, nan=-1.0) - 0.5).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(SPAN_PX):
            j = j0 + k
            inside = surface & (j + 0.5 <= hi)
            t = np.where(hi > lo, (j + 0.5 - a) / (b - a), 0.0)
            splat(j, da + t * (db - da), rows[:, :-1], inside)
    out = out.reshape(H, W)
    return np.where(np.isfinite(out), out, np.nan).astype(np.float32)


def lr_occlusion(disp_left: np.ndarray, disp_right: np.ndarray, tol: float = 1.0) -> np.ndarray:
    """Bool (H, W): right pixels the left view does not see (left-right check, see the module doc)."""
    H, W = disp_right.shape
    x_l = np.arange(W) + 0.5 + np.nan_to_num(disp_right, nan=0.0)  # continuous x in the left view
    j = np.floor(x_l).astype(np.int64)
    inside = np.isfinite(disp_right) & (j >= 0) & (j < W)
    dl = disp_left[np.arange(H)[:, None], np.clip(j, 0, W - 1)]
    seen = inside & np.isfinite(dl) & (np.abs(dl - np.nan_to_num(disp_right, nan=0.0)) <= tol)
    return ~seen


class Covisibility(NamedTuple):
    disparity_right: np.ndarray  # (H, W) right-view disparity (NaN where unknown or occluded)
    covisible: np.ndarray  # (H, W) bool: seen by both views, measured
    occluded: np.ndarray  # (H, W) bool: seen by the right view only (disoccluded or outside the left view)
    unknown: np.ndarray  # (H, W) bool: decided only through filled (unmeasured) left disparities


def covisibility(disp_left: np.ndarray, jump: float = 1.0, tol: float = 1.0) -> Covisibility:
    """Classify every right pixel from the left disparity alone (NaN = unmeasured), see the module doc."""
    measured = np.isfinite(disp_left)
    if not measured.any():
        raise ValueError("the left disparity has no measured pixel")
    filled = fill_toward_background(disp_left)
    d_all = right_disparity(filled, jump)
    d_meas = right_disparity(np.where(measured, disp_left, np.nan), jump)
    occluded = lr_occlusion(filled, d_all, tol)
    # the nearest surface there is a measured one (a filled span reaching the same disparity still counts as measured)
    from_measured = np.isfinite(d_meas) & (np.nan_to_num(d_meas, nan=-1.0) >= d_all - 1e-4)
    unknown = ~occluded & ~from_measured
    covisible = ~occluded & from_measured
    d_right = np.where(covisible, d_all, np.nan).astype(np.float32)
    return Covisibility(d_right, covisible, occluded, unknown)


def outside_left_view(cov: Covisibility) -> np.ndarray:
    """Bool (H, W): occluded right pixels the left camera could not see even without occluders, i.e. the strip
    beyond the left image's border. Their own disparity is unknown; the background's (the right disparity
    filled toward the background along the row, as ``fill_toward_background``) sends them to x + d >= W."""
    H, W = cov.occluded.shape
    d = fill_toward_background(cov.disparity_right)
    x_left = np.arange(W) + 0.5 + np.nan_to_num(d, nan=0.0)
    return cov.occluded & (x_left >= W)
