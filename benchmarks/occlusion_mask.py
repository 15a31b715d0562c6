"""Which true occlusions of the Motorcycle right view the warp's mask leaves valid, what the warp renders there, and
what candidate validity tests (and an oracle mask) would do to the filled view (docs/BENCHMARKS.md §14, issue #27).

    python benchmarks/occlusion_mask.py [--cache artifacts/fillers/cases] [--out artifacts/fillers/occlusion_mask.json]

Uses the fillers benchmark's cached Motorcycle chunk (benchmarks/filler_cases.py) and, for the rendered depth spread,
rebuilds the same cache (same config and seed; checked to render the same right view) to rasterise depth_sq.
Each test marks more holes on the last frame only, then ``depth_aware`` fills and the view is scored as
``worldwarp real-photo`` scores it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from filler_cases import cached, motorcycle_case  # noqa: E402
from fillers import fill, motorcycle_scores  # noqa: E402
from worldwarp.config import load_params  # noqa: E402


def _psnr(a, b, m):
    return float(10 * np.log10(1.0 / ((a[m] - b[m]) ** 2).mean()))


def _spread(cfg) -> tuple[np.ndarray, np.ndarray]:
    """Relative depth spread and rgb of the cache's render at the right camera (the cache rebuilt as filler_cases)."""
    from worldwarp.realphoto import load_motorcycle, measured_input_depth, stereo_trajectory
    from worldwarp.splat import build_cache
    from worldwarp.splat.rasterize import rasterize

    rp = cfg.real_photo
    pair = load_motorcycle(rp.downscale)
    c = cfg.model_copy(update={"splat": cfg.splat.model_copy(update={"steps": rp.steps})})
    d0 = torch.from_numpy(measured_input_depth(pair))
    g, _ = build_cache(torch.from_numpy(pair.left)[None], d0[None], pair.K("left")[None], pair.w2c("left")[None], c.splat,
                       backend=c.splat.backend, seed=c.seed)
    cams = stereo_trajectory(pair, rp.frames)
    o = rasterize(g, cams.K[-1:], cams.w2c[-1:], cams.width, cams.height, backend=c.splat.backend)
    z, zsq = o.depth[0].numpy(), o.depth_sq[0].numpy()
    return np.sqrt(np.clip(zsq - z * z, 0, None)) / np.maximum(z, 1e-6), o.rgb[0].clamp(0, 1).numpy()


def _forward_warp(case) -> np.ndarray:
    """z-buffer of the left view's pixels (its measured depth) in the right view, as DIBR warps: inf where none lands."""
    d0, K, w2c = case["depth"][0].astype(np.float64), case["K"].astype(np.float64), case["w2c"].astype(np.float64)
    H, W = d0.shape
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    cam = np.stack([(u - K[0, 0, 2]) / K[0, 0, 0] * d0, (v - K[0, 1, 2]) / K[0, 1, 1] * d0, d0], -1).reshape(-1, 3)
    world = (cam - w2c[0, :3, 3]) @ w2c[0, :3, :3]
    cr = world @ w2c[-1, :3, :3].T + w2c[-1, :3, 3]
    x = np.floor(cr[:, 0] / cr[:, 2] * K[-1, 0, 0] + K[-1, 0, 2]).astype(np.int64)
    y = np.floor(cr[:, 1] / cr[:, 2] * K[-1, 1, 1] + K[-1, 1, 2]).astype(np.int64)
    on = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    zb = np.full(H * W, np.inf)
    np.minimum.at(zb, (y * W + x)[on], cr[on, 2])
    return zb.reshape(H, W)


def main(argv: list[str] | None = None) -> int:
    from worldwarp.realphoto import covisibility
    from worldwarp.realphoto.occlusion import outside_left_view

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("artifacts/fillers/cases"))
    ap.add_argument("--out", type=Path, default=Path("artifacts/fillers/occlusion_mask.json"))
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    cfg = load_params(ROOT / "params.yaml", ["device=cpu"])
    case = cached(args.cache, "motorcycle", lambda: motorcycle_case(cfg))
    cov = covisibility(case["disparity"])
    inside = cov.occluded & ~outside_left_view(cov)
    valid = case["mask"][-1].astype(bool)
    missed = inside & valid
    warp, right, z = case["warped"][-1], case["right"], case["depth"][-1]
    rep: dict = {"inside_occluded": int(inside.sum()), "left_valid": int(missed.sum()),
                 "render_psnr_left_valid": _psnr(warp, right, missed),
                 "render_psnr_covisible_valid": _psnr(warp, right, cov.covisible & valid)}
    # where they lie: distance to the nearest co-visible pixel, and the depth step across the occlusion (row-wise)
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~cov.covisible)
    rep["left_valid_touching_covisible_8"] = float((dist[missed] < 1.5).mean())  # a co-visible pixel among the 8
    rep["left_valid_touching_covisible_4"] = float((dist[missed] <= 1).mean())  # sharing a side
    H, W = valid.shape
    cols, ratio, kind = np.arange(W), [], []
    rd = case["right_depth"]
    for y in range(H):
        c = cov.covisible[y]
        lft = np.maximum.accumulate(np.where(c, cols, -1))
        rgt = np.minimum.accumulate(np.where(c, cols, W)[::-1])[::-1]
        for x in np.flatnonzero(missed[y]):
            if lft[x] < 0 or rgt[x] >= W:
                continue
            zf, zb = sorted((rd[y, lft[x]], rd[y, rgt[x]]))
            ratio.append(zb / zf)
            kind.append(0 if abs(z[y, x] - zf) < 0.05 * zf else 1 if abs(z[y, x] - zb) < 0.05 * zb else 2)
    kind = np.array(kind)
    rep["depth_ratio_across_percentiles_10_50_90"] = [float(v) for v in np.percentile(ratio, [10, 50, 90])]
    rep["rendered_depth_near_far_between"] = [float((kind == k).mean()) for k in range(3)]
    spread, rgb = _spread(cfg)
    rep["rebuilt_render_max_abs_diff"] = float(np.abs(rgb - warp).max())
    zb = _forward_warp(case)
    tests = {"oracle: the left-valid occlusions": missed, "depth spread > 0.05": spread > 0.05,
             "depth spread > 0.1": spread > 0.1, "no left pixel lands (forward warp)": ~np.isfinite(zb),
             "forward-warped depth differs > 5 %": ~(np.isfinite(zb) & (np.abs(zb - z) <= 0.05 * z))}
    rows = {}
    for name, test in {"none (the warp's mask)": np.zeros_like(valid), **tests}.items():
        c = dict(case)
        m = case["mask"].copy()
        m[-1] = valid & ~test
        c["mask"] = m
        out, _ = fill("depth_aware", c)
        s = motorcycle_scores(c, out)
        rows[name] = {"marks_left_valid": int((valid & test & missed).sum()), "marks_covisible": int((valid & test & cov.covisible).sum()),
                      **{k: s[k] for k in ("psnr_occluded", "psnr_covisible", "psnr_all", "hole_recall", "hole_precision")},
                      "fill_psnr_on_left_valid": _psnr(out[-1], right, missed)}
        print(name, {k: round(v, 4) for k, v in rows[name].items()}, flush=True)
    rep["tests"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rep, indent=2) + "\n")
    print(json.dumps({k: v for k, v in rep.items() if k != "tests"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
