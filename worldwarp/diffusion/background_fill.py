"""Depth-aware hole filling: a hole takes the surface that geometry says is there, mostly the FARTHER one around
it, and each filled 3D point keeps one colour across a chunk's frames.

Why: a hole in a warped frame is mostly a disocclusion, background that a nearer object hid from the input
camera. Filling it from every side at once (push-pull) drags the occluder's colour across it (halos); depth-image-
based rendering fills from the background side instead. Per hole pixel (``fill_background``):

1. ``directional_candidates``: the first valid pixel along each of 8 directions (rows, columns, diagonals),
   found by binary search among the valid pixels of all lines laid end to end (``_lines``); opposite
   directions pair into 4 lines through the pixel.
2. Per line: both ends on one surface (depths within ``rel_tol``) -> interpolate along the line (a crack);
   a depth jump -> the nearer end only if the source (history) views saw that surface reach this pixel's ray
   (``support``: the point at that depth projects onto a source pixel of the same depth; visibility then
   says the nearer surface shows), else the farther end (a disocclusion shows what was behind). Across lines
   the same rule: the nearest supported surface, else the farthest; the narrowest lines (within
   ``max_ratio`` of the shortest) are averaged with weights 1 / length^2.
3. ``_pyramid_refine``: smoother colours from a background-preferring push-pull pyramid, each hole pixel taking
   the finest level whose block lies on the surface step 2 chose (same depth within rel_tol).

Across a chunk's frames (``fill_chunk``), per frame, in this order:

0. ``source_lookup``: what a source (history) frame saw there. Each hole pixel's candidate depths (the 8 line
   ends, each line's interpolation in inverse depth, the render's own depth where it has some opacity) put a point
   on its ray; a candidate is seen when a source pixel around where that point lands, lifted with the source's own
   depth, projects back within ``tol_px`` (0.75 px) of the hole pixel. The nearest seen candidate wins and the
   pixel takes the source's colour there (bilinear over the passing source pixels). This fills the cracks of
   magnified surfaces, the rims the mask removed and ground the splats spread thin with the source's own texture,
   the same for every frame that sees that point; only true disocclusions and ground beyond every source view are
   left (docs/BENCHMARKS.md §14: it takes 48 % of the hole pixels of the forward chunk, 20 % of the orbit's,
   whose holes are mostly ground beyond the input's view).
1. The points earlier frames of the chunk filled in 2D (below) cover what they reach (nearest point wins).
2. The rest in 2D, ``fill_background`` above; then, where the render has some opacity a (composited over black),
   the render goes over the fill as over what lies behind it: rgb + (1 - a) fill. Each pixel filled in 2D becomes
   a 3D point at its filled depth, so the same point has the same colour in every later frame, for any camera
   motion.
Frames are filled in order, from the one next to the history on: each new frame inherits what the frames before it
invented and invents only what it newly opens (filling the last frame first measured worse on the orbit, 12.0 vs
14.7 dB, docs/BENCHMARKS.md §14). What still flickers (the render's partial pixels, re-rendered every frame, and
each frame's newly opened ones) the Denoiser wrapper, ``classical.DepthAwareFiller``, averages over time.
Deterministic (no randomness, fixed order); numpy and torch pooling on the CPU, no Python loop over pixels or
rows.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

# which step of fill_chunk filled a hole pixel (its ``steps`` output), by code
FILL_STEPS = {1: "source", 2: "points", 3: "2d"}
# (dy, dx) looked along; consecutive pairs are opposite directions, one line through the pixel each
DIRECTIONS = ((0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (1, 1), (-1, 1), (1, -1))


@lru_cache(maxsize=8)
def _lines(H: int, W: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 4 lines of DIRECTIONS through every pixel, laid end to end as one sequence, so that "the nearest valid
    pixel before / after this one on its line" is one binary search among the valid ranks (the per-call cost of
    8 full-frame scans dominated at demo sizes, and only the holes' answers are needed).

    Line kinds, in order: the image's rows (position x), its columns (position y), the down-right diagonals
    (x - y constant, position y) and the down-left ones (x + y constant, position y). Returns ``seq`` (4 H W,)
    the flat pixel at each rank, ``line`` (4 H W,) the line it lies on (increasing along the sequence), and
    ``rank`` (4, H W): where each pixel sits in the sequence for each line kind."""
    y, x = np.divmod(np.arange(H * W), W)
    keys = (y, x), (x, y), (x - y, y), (x + y, y)  # (line within its kind, position on it)
    seq, line, offset = [], [], 0
    for cell, pos in keys:
        order = np.lexsort((pos, cell))  # along each line in turn, by position
        seq.append(order)
        line.append(np.unique(cell[order], return_inverse=True)[1] + offset)
        offset = line[-1][-1] + 1
    seq, line = np.concatenate(seq), np.concatenate(line)
    rank = np.empty((4, H * W), np.int64)
    rank.reshape(-1)[np.arange(4).repeat(H * W) * H * W + seq] = np.arange(4 * H * W)
    for arr in (seq, line, rank):
        arr.setflags(write=False)  # cached: shared by every call
    return seq, line, rank


def _candidates_at(valid: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Flat index of the nearest valid pixel along each of DIRECTIONS from the flat pixels ``p`` (8, n), -1 where
    there is none; a valid pixel of ``p`` finds itself (directions 2k and 2k + 1 look before and after along line kind k of ``_lines``)."""
    seq, line, rank = _lines(*valid.shape)
    vr = np.flatnonzero(valid.ravel()[seq])  # ranks of the valid pixels, sorted
    hr = rank[:, p]  # (4, n)
    out = np.empty((8, len(p)), np.int64)
    if not len(vr):
        out.fill(-1)
        return out
    # a valid pixel is its own candidate both ways (a hole never is)
    i = np.searchsorted(vr, hr, "right") - 1  # last valid rank at or before
    j = np.searchsorted(vr, hr, "left")  # first valid rank at or after
    for k, q in ((0, i), (1, j)):
        r = vr[q.clip(0, len(vr) - 1)]
        hit = (q >= 0) & (q < len(vr)) & (line[r] == line[hr])  # on the same line, not the next one
        out[k::2] = np.where(hit, seq[r], -1)
    return out


def _distance(idx: np.ndarray, py: np.ndarray, px: np.ndarray, W: int) -> np.ndarray:
    qy, qx = np.divmod(idx, W)
    return np.where(idx >= 0, np.hypot(qy - py, qx - px), np.inf)


def directional_candidates(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the flat index of the nearest valid pixel looked along each of ``DIRECTIONS`` (8, H, W),
    -1 where there is none, and its distance in pixels (8, H, W), inf where there is none."""
    H, W = valid.shape
    idx = _candidates_at(valid, np.arange(H * W))
    py, px = np.divmod(np.arange(H * W), W)
    return idx.reshape(8, H, W), _distance(idx, py, px, W).reshape(8, H, W)


def fill_background(rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, rel_tol: float = 0.1,
                    max_ratio: float = 3.0, pyramid: bool = True,
                    support: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Fill the holes (valid False) of one frame from their farther side (module doc, steps 1-2).

    rgb (H, W, 3), depth (H, W) z-depth (used on valid pixels only), valid (H, W) bool. Returns the filled rgb
    and depth (valid pixels unchanged); a frame with no valid pixel is returned as it is."""
    holes = ~valid
    if not holes.any() or not valid.any():
        return rgb.copy(), depth.copy()
    hy, hx = np.nonzero(holes)
    ci = _candidates_at(valid, hy * valid.shape[1] + hx)  # (8, n)
    cd = _distance(ci, hy, hx, valid.shape[1])
    found = ci >= 0
    z = np.where(found, depth.ravel()[ci.clip(0)], -np.inf)
    col = rgb.reshape(-1, 3)[ci.clip(0)]  # (8, n, 3)
    a, b = slice(0, 8, 2), slice(1, 8, 2)  # DIRECTIONS pairs opposite directions: (0, 1), (2, 3), ...
    if support is not None:
        sup, inside = support(hy, hx, np.where(found, z, 1.0))
        # a surface around the pixel, put on its ray, falls outside every source view: new ground at the
        # frame's border (an orbit, a pan), not a disocclusion
        sup, outside = sup & found, (found & ~inside).any(0)
    else:
        sup, outside = np.zeros_like(found), np.zeros(len(hy), bool)
    za, zb, da, db, sa, sb = z[a], z[b], cd[a], cd[b], sup[a], sup[b]
    fa, fb = found[a], found[b]
    # per line: both ends on one surface -> interpolate; a depth jump -> the nearer end if the source views saw
    # its surface reach this pixel (visibility: the nearest existing surface), else the farther end (a
    # disocclusion shows what was behind); one end -> that end
    with np.errstate(invalid="ignore"):  # a missing end is -inf depth at inf distance
        same = fa & fb & (np.abs(za - zb) <= rel_tol * np.maximum(za, zb))
        a_near = za < zb
        take_a = np.where(sa & sb, a_near, np.where(sa | sb, sa, ~a_near))
        wa = np.where(same, db / (da + db), np.where(fa & (~fb | take_a), 1.0, 0.0))
    wa = np.where(fa | fb, wa, 0.0)
    wb = np.where(fa | fb, 1.0 - wa, 0.0)
    lz = wa * np.where(fa, za, 0) + wb * np.where(fb, zb, 0)
    ls = np.where(wa > 0, sa, False) | np.where(wb > 0, sb, False)
    lc = wa[..., None] * col[a] + wb[..., None] * col[b]
    # a line with one end runs into the border on the other side: it is at least that long
    edge = _to_border(hy, hx, *valid.shape)
    length = np.where(fa, da, edge[a]) + np.where(fb, db, edge[b])
    length = np.where(fa | fb, length, np.inf)
    ok = np.isfinite(length)
    # across lines the same rule: the nearest supported surface, else the farthest (an occluder's line gives way)
    seen = ok & ls
    near = np.where(seen, lz, np.inf).min(0)
    far = np.where(ok, lz, -np.inf).max(0)
    ok &= np.where(seen.any(0), seen & (lz <= near * (1 + rel_tol)), lz >= far * (1 - rel_tol))
    shortest = np.where(ok, length, np.inf).min(0)
    ok &= length <= max_ratio * shortest  # the hole's narrow directions: the ends nearest to the pixel
    w = np.where(ok, 1.0 / np.maximum(length, 1.0) ** 2, 0.0)
    w /= w.sum(0, keepdims=True)
    out_rgb, out_z = rgb.copy(), depth.copy()
    out_rgb[hy, hx] = np.einsum("kn,knc->nc", w, lc)
    out_z[hy, hx] = (w * lz).sum(0)
    if pyramid:
        out_rgb[hy, hx] = _pyramid_refine(rgb, depth, valid, hy, hx, out_rgb[hy, hx], out_z[hy, hx], rel_tol)
    if outside.any():  # beyond every source view nothing was hidden behind anything: a smooth, depth-blind fill
        from .push_pull import push_pull_fill

        img = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)[None]
        pp = push_pull_fill(img, torch.from_numpy(valid.astype(np.float32))[None, None])[0].permute(1, 2, 0).numpy()
        oy, ox = hy[outside], hx[outside]
        out_rgb[oy, ox] = pp[oy, ox]
    return out_rgb, out_z


def _to_border(hy: np.ndarray, hx: np.ndarray, H: int, W: int) -> np.ndarray:
    """(8, n) distance from each pixel out of the image along each of DIRECTIONS."""
    out = []
    for dy, dx in DIRECTIONS:
        steps = np.full(hy.shape, np.inf)
        if dx:
            steps = np.minimum(steps, np.where(dx > 0, W - hx, hx + 1))
        if dy:
            steps = np.minimum(steps, np.where(dy > 0, H - hy, hy + 1))
        out.append(steps * np.hypot(dy, dx))
    return np.stack(out)


def _pull_far(czw: torch.Tensor, rel_tol: float) -> torch.Tensor:
    """One level down of (1, 5, H, W) = colour, depth, weight, keeping in each 2 x 2 block only the children
    within rel_tol of its farthest valid one. The three are pooled as one tensor: one call instead of three."""
    H, W = czw.shape[-2:]
    if H % 2 or W % 2:  # zero weight on the padding keeps odd sizes exact
        czw = F.pad(czw, (0, W % 2, 0, H % 2))
    z, w = czw[:, 3:4], czw[:, 4:5]
    zmax = F.max_pool2d(torch.where(w > 0, z, torch.zeros_like(z)), 2)
    up = zmax[..., :, None, :, None].expand(-1, -1, -1, 2, -1, 2).reshape(z.shape)  # each parent over its 2 x 2
    wk = w * (z >= up * (1 - rel_tol))
    s = F.avg_pool2d(torch.cat([czw[:, :4] * wk, wk], 1), 2) * 4
    ws = s[:, 4:5]
    return torch.cat([s[:, :4] / ws.clamp_min(1e-8), ws.clamp(max=1.0)], 1)


def _pyramid_refine(rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, hy: np.ndarray, hx: np.ndarray,
                    base: np.ndarray, zbg: np.ndarray, rel_tol: float) -> np.ndarray:
    """Hole pixels from the finest pyramid level whose (background-preferring) block average lies on the surface
    the lines chose (depth within rel_tol of ``zbg``); ``base`` where none does. Smoother than the line ends."""
    H, W = valid.shape
    czw = torch.from_numpy(np.concatenate([np.moveaxis(rgb, -1, 0), np.where(valid, depth, 0)[None], valid[None]])
                           .astype(np.float32))[None]
    levels = []
    while min(czw.shape[-2:]) > 1:
        czw = _pull_far(czw, rel_tol)
        levels.append(czw)
    val = torch.from_numpy(base.astype(np.float32))
    zb = torch.from_numpy(zbg.astype(np.float32))
    gy = torch.from_numpy((hy + 0.5) / H * 2 - 1).float()
    gx = torch.from_numpy((hx + 0.5) / W * 2 - 1).float()
    grid = torch.stack([gx, gy], -1)[None, None]  # (1, 1, n, 2)
    for czw in reversed(levels):
        w = czw[:, 4:5]
        s = F.grid_sample(torch.cat([czw[:, :4] * w, w], 1), grid, mode="bilinear", align_corners=False)[0, :, 0]
        ws = s[4].clamp_min(1e-8)
        cl, zl, wl = s[:3] / ws, s[3] / ws, s[4].clamp(max=1.0)
        a = wl * ((zl - zb).abs() <= rel_tol * zb)
        val = a[:, None] * cl.T + (1 - a[:, None]) * val
    return val.numpy().astype(rgb.dtype)


def _to_world(u: np.ndarray, v: np.ndarray, z: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> np.ndarray:
    """World points (n, 3) of pixel centres (u, v) (integer + 0.5) at z-depth z."""
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], -1)
    R, t = w2c[:3, :3], w2c[:3, 3]
    return (cam - t) @ R  # R^T (x - t)


def _splat(points: np.ndarray, colours: np.ndarray, K: np.ndarray, w2c: np.ndarray, H: int, W: int,
           target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-point z-buffer of ``points`` into the pixels of ``target`` (bool (H, W)): rgb, z and coverage."""
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    front = z > 1e-6
    uv = cam[front, :2] / z[front, None] @ K[:2, :2].T + K[:2, 2]
    x, y = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
    on = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    x, y, zf, col = x[on], y[on], z[front][on], colours[front][on]
    on = target[y, x]
    pix, zf, col = (y * W + x)[on], zf[on], col[on]
    zbuf = np.full(H * W, np.inf)
    np.minimum.at(zbuf, pix, zf)
    win = zf <= zbuf[pix]  # ties: the first point in order wins below (deterministic)
    rgb = np.zeros((H * W, 3), colours.dtype)
    rgb[pix[win][::-1]] = col[win][::-1]
    cover = np.isfinite(zbuf)
    return rgb.reshape(H, W, 3), np.where(cover, zbuf, 0.0).reshape(H, W), cover.reshape(H, W)


def _seen_by(src_depth: np.ndarray, src_K: np.ndarray, src_w2c: np.ndarray, K: np.ndarray, w2c: np.ndarray,
             rel_tol: float) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """support(hy, hx, z (c, n)) -> two bool (c, n): whether the point at z-depth z on pixel (hy, hx)'s ray lies
    on a surface a source (history) view saw (its depth there agrees within rel_tol), and whether it lies inside
    any source view at all."""
    S, H, W = src_depth.shape

    def support(hy: np.ndarray, hx: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = z.shape[0]
        pts = _to_world(np.tile(hx + 0.5, c), np.tile(hy + 0.5, c), z.ravel(), K, w2c)
        out, inside = np.zeros(pts.shape[0], bool), np.zeros(pts.shape[0], bool)
        for s in range(S):
            cam = pts @ src_w2c[s, :3, :3].T + src_w2c[s, :3, 3]
            zs = cam[:, 2]
            with np.errstate(invalid="ignore", divide="ignore"):
                u = cam[:, 0] / zs * src_K[s, 0, 0] + src_K[s, 0, 2]
                v = cam[:, 1] / zs * src_K[s, 1, 1] + src_K[s, 1, 2]
            ok = (zs > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
            ui, vi = np.floor(np.where(ok, u, 0)).astype(np.int64), np.floor(np.where(ok, v, 0)).astype(np.int64)
            out |= ok & (np.abs(src_depth[s][vi, ui] - zs) <= rel_tol * zs)
            inside |= ok
        return out.reshape(z.shape), inside.reshape(z.shape)

    return support


def _candidate_depths(valid: np.ndarray, depth: np.ndarray, alpha: np.ndarray, hy: np.ndarray, hx: np.ndarray,
                      min_alpha: float = 0.05) -> np.ndarray:
    """(13, n) z-depths the surface at hole pixels (hy, hx) may have, NaN where there is none: the depths of the 8
    nearest valid pixels along DIRECTIONS, each line's interpolation between its two ends (in inverse depth, which
    is linear along a plane's image), and the render's own depth where it has some opacity (>= min_alpha)."""
    H, W = valid.shape
    ci = _candidates_at(valid, hy * W + hx)
    cd = _distance(ci, hy, hx, W)
    found = ci >= 0
    z = np.where(found, depth.ravel()[ci.clip(0)], np.nan)
    a, b = slice(0, 8, 2), slice(1, 8, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        wa = cd[b] / (cd[a] + cd[b])
        zi = np.where(found[a] & found[b], 1.0 / (wa / z[a] + (1 - wa) / z[b]), np.nan)
    own = np.where(alpha[hy, hx] >= min_alpha, depth[hy, hx], np.nan)[None]
    return np.concatenate([z, zi, own])


def _source_points(src_depth: np.ndarray, src_K: np.ndarray, src_w2c: np.ndarray) -> np.ndarray:
    """(S, H W, 3) world points of every source pixel at the source's own depth; NaN where it has none."""
    S, H, W = src_depth.shape
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    out = np.stack([_to_world(u.ravel(), v.ravel(), src_depth[s].ravel(), src_K[s], src_w2c[s]) for s in range(S)])
    out[~(src_depth.reshape(S, -1) > 0)] = np.nan
    return out


def _sources_in_frame(src_pts: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each source pixel (``src_pts`` from _source_points) lands in this frame: x and y (S, H W) in px,
    float32, pixel centres at integer + 0.5; NaN behind the camera or where the source has no depth."""
    cam = src_pts @ w2c[:3, :3].T + w2c[:3, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(cam[..., 2] > 1e-6, cam[..., 2], np.nan)
        return ((cam[..., 0] / z * K[0, 0] + K[0, 2]).astype(np.float32),
                (cam[..., 1] / z * K[1, 1] + K[1, 2]).astype(np.float32))


def source_lookup(src_rgb: np.ndarray, src_at: tuple[np.ndarray, np.ndarray], src_K: np.ndarray, src_w2c: np.ndarray, K: np.ndarray,
                  w2c: np.ndarray, hy: np.ndarray, hx: np.ndarray, cz: np.ndarray, tol_px: float = 0.75,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The colour a source (history) view saw at hole pixels (hy, hx), for candidate z-depths cz (c, n).

    A candidate point (the pixel's ray at that depth) is seen by a source when one of the 2 x 2 source pixels
    around where it lands, lifted with the source's own depth and brought back into this frame (``src_at``, from
    _sources_in_frame), lands within ``tol_px`` of the hole pixel: a reprojection test in pixels, which is what
    decides whether the source's colour is the right one (a depth tolerance is loose on far, grazing ground and
    strict on near surfaces). Per pixel the nearest seen candidate wins (what a source saw in front is what is
    there); its colour is the bilinear average of the 2 x 2 source pixels around it that pass the same test.
    Sources are tried from the last (newest) one back. Returns colour (n, 3), depth (n,) and ok (n,): whether any
    candidate was seen."""
    c, n = cz.shape
    S, H, W = src_rgb.shape[:3]
    flat = cz.ravel()
    todo = np.flatnonzero(np.isfinite(flat) & (flat > 0))
    pix = todo % n
    pts = _to_world(hx[pix] + 0.5, hy[pix] + 0.5, flat[todo], K, w2c)
    src = np.full(len(todo), -1)  # the source that sees each candidate
    uv = np.zeros((len(todo), 2))
    ax, ay = src_at
    tol2 = tol_px * tol_px
    for s in reversed(range(S)):
        rest = np.flatnonzero(src < 0)
        cam = pts[rest] @ src_w2c[s, :3, :3].T + src_w2c[s, :3, 3]
        zs = cam[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            u = cam[:, 0] / zs * src_K[s, 0, 0] + src_K[s, 0, 2]  # continuous, pixel centres at integer + 0.5
            v = cam[:, 1] / zs * src_K[s, 1, 1] + src_K[s, 1, 2]
        ok = (zs > 1e-6) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
        rest, u, v = rest[ok], u[ok], v[ok]
        i = pix[rest]
        ex, ey = (hx[i] + 0.5).astype(np.float32), (hy[i] + 0.5).astype(np.float32)
        x0 = np.minimum((u - 0.5).clip(0).astype(np.int64), max(W - 2, 0))
        q0 = np.minimum((v - 0.5).clip(0).astype(np.int64), max(H - 2, 0)) * W + x0
        hit = np.zeros(len(rest), bool)
        for d in (0, 1, W, W + 1):  # the 2 x 2 source pixels around it
            q = np.minimum(q0 + d, H * W - 1)
            with np.errstate(invalid="ignore"):  # NaN (no depth, behind) is never seen
                hit |= (ax[s, q] - ex) ** 2 + (ay[s, q] - ey) ** 2 <= tol2
        src[rest[hit]], uv[rest[hit]] = s, np.stack([u[hit], v[hit]], 1)
    zc = np.full(c * n, np.inf)
    seen = src >= 0
    zc[todo[seen]] = flat[todo[seen]]
    zc = zc.reshape(c, n)
    k = zc.argmin(0)
    ok = np.isfinite(zc[k, np.arange(n)])
    # the winners' colour: bilinear over the 2 x 2 source pixels around them that pass the test
    pos = np.full(c * n, -1)
    pos[todo] = np.arange(len(todo))
    w_ = pos[k * n + np.arange(n)][ok]
    s_, (u, v) = src[w_], (uv[w_] - 0.5).T
    i = np.flatnonzero(ok)
    u, v = u.clip(0, W - 1), v.clip(0, H - 1)
    x0, y0 = np.minimum(u.astype(np.int64), max(W - 2, 0)), np.minimum(v.astype(np.int64), max(H - 2, 0))
    fx, fy = u - x0, v - y0
    acc, wsum = np.zeros((len(i), 3)), np.zeros(len(i))
    flat_rgb = src_rgb.reshape(S, H * W, 3)
    for dy, dx, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        q = np.minimum(y0 + dy, H - 1) * W + np.minimum(x0 + dx, W - 1)
        with np.errstate(invalid="ignore"):
            good = (ax[s_, q] - hx[i] - 0.5) ** 2 + (ay[s_, q] - hy[i] - 0.5) ** 2 <= tol2
        wg = np.where(good, wgt + 1e-6, 0.0)  # + 1e-6: a passing pixel at weight 0 still counts
        acc += wg[:, None] * flat_rgb[s_, q]
        wsum += wg
    col = np.zeros((n, 3))
    col[i] = acc / np.maximum(wsum, 1e-12)[:, None]  # one of the 2 x 2 passed, so wsum > 0
    return col, zc[k, np.arange(n)], ok


def fill_chunk(rgb: np.ndarray, valid: np.ndarray, depth: np.ndarray, K: np.ndarray, w2c: np.ndarray,
               alpha: np.ndarray, history: int, rel_tol: float = 0.1, tol_px: float = 0.75,
               steps: np.ndarray | None = None) -> np.ndarray:
    """Fill the holes of frames [history, F) of a chunk (module doc, the 3D part). rgb (F, H, W, 3) the warp's
    render, valid (F, H, W) bool, depth / alpha (F, H, W) its z-depth and opacity, K (F, 3, 3), w2c (F, 4, 4); the
    first ``history`` frames are the sources (their rgb and depth exact). Returns rgb with every hole filled;
    valid pixels and history frames unchanged. ``steps`` (F, H, W) int, if given, gets which step filled each hole
    pixel (FILL_STEPS: 1 a source's colour, 2 an earlier frame's points, 3 the 2D fill; 0 elsewhere)."""
    F, H, W = valid.shape
    out = rgb.copy()
    pts, cols = np.zeros((0, 3)), np.zeros((0, 3), rgb.dtype)
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    src_rgb = rgb[:history].astype(np.float64)
    src_pts = _source_points(depth[:history], K[:history], w2c[:history])
    for t in range(history, F):
        holes = ~valid[t]
        if not holes.any():
            continue
        frame, z = out[t].copy(), depth[t].astype(np.float64).copy()
        # 1. what a source saw there: its colour, for the nearest candidate surface it saw (cracks of magnified
        # surfaces, rims the mask removed, ground the render spread thin)
        hy, hx = np.nonzero(holes)
        at = _sources_in_frame(src_pts, K[t], w2c[t])
        cz = _candidate_depths(valid[t], depth[t], alpha[t], hy, hx)
        lcol, lz, lok = source_lookup(src_rgb, at, K[:history], w2c[:history], K[t], w2c[t], hy, hx, cz, tol_px)
        seen = np.zeros_like(holes)
        seen[hy[lok], hx[lok]] = True
        frame[seen], z[seen] = lcol[lok], lz[lok]
        # 2. what the frames before this one invented: their points (nearest wins per pixel)
        cover = np.zeros_like(holes)
        if len(pts):
            s_rgb, s_z, cover = _splat(pts, cols, K[t], w2c[t], H, W, holes & ~seen)
            frame[cover], z[cover] = s_rgb[cover], s_z[cover]
        known = valid[t] | seen | cover
        # 3. the rest in 2D, from the farther side (fill_background)
        support = _seen_by(depth[:history], K[:history], w2c[:history], K[t], w2c[t], rel_tol)
        filled, fz = fill_background(frame, z, known, rel_tol, support=support)
        new = ~known
        # where no source saw the surface, the render's partial coverage (opacity a, composited over black) goes
        # over the fill as over what lies behind it: rgb + (1 - a) fill
        over = holes & ~seen & (alpha[t] > 0)
        filled[over] = rgb[t][over] + (1 - alpha[t][over, None]) * filled[over]
        out[t] = filled
        if steps is not None:
            steps[t] = np.select([seen, cover, new], [1, 2, 3], 0)
        if new.any():  # the 2D fill becomes 3D points for the frames still to fill
            pts = np.concatenate([pts, _to_world(u[new], v[new], fz[new], K[t], w2c[t])])
            cols = np.concatenate([cols, filled[new]])
    return out
