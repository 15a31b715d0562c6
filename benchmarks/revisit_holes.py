"""Why a revisit run's chunks still have holes: the warp of each chunk re-run from its store (the same cache, the
same mask, checked against the stored mask), its hole pixels split by the render's opacity, and the render's PSNR
against the exact render in each class (procedural scenes only).

Classes of hole pixels (splat.mask=longshot only; another mask is refused): `empty` (alpha below
splat.alpha_threshold, 0.8 by default: not enough of the cache there) and `mixed` (alpha above it, but the
depth-spread test flagged a foreground/background blend); `edge band` = valid pixels within 2 px of a mixed one,
the comparison for how wrong the mixed ones are.

    python benchmarks/revisit_holes.py artifacts/revisit/artifacts/runs/room_identical_classical_world.zarr [--chunks 4-7]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common import span  # noqa: E402
from stages.inputs import chunk_cameras  # noqa: E402
from stages.warp import warp_chunk  # noqa: E402
from worldwarp.config import WorldWarpConfig  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from stored_run import open_stored  # noqa: E402
from worldwarp.store import RunStore  # noqa: E402


def chunk_holes(store: RunStore, cfg: WorldWarpConfig, k: int) -> dict:
    sp = span(cfg, k)
    out = warp_chunk(store, k, cfg)
    h = sp.history
    valid, alpha = out.mask.numpy().astype(bool)[h:], out.alpha.numpy()[h:]
    stored = np.asarray(store.read_array(k, "warp", "mask")).astype(bool)[h:]
    if not np.array_equal(valid, stored):  # the analysis must be of the run's own warp
        raise SystemExit(f"chunk {k}: the re-run warp's mask differs from the stored one ({(valid != stored).mean():.4%})")
    exact = make_scene(cfg.scene.name).render(chunk_cameras(store.read_input(), sp))[0].numpy()[h:]
    err = ((out.rgb.numpy()[h:] - exact) ** 2).mean(-1)
    holes = ~valid
    thr = cfg.splat.alpha_threshold  # the mask's own: below it a pixel is a hole whatever its depth spread
    mixed, empty = holes & (alpha >= thr), holes & (alpha < thr)
    band = np.stack([ndimage.binary_dilation(f, iterations=2) for f in mixed]) & valid

    def psnr(sel: np.ndarray) -> float | None:
        return float(-10 * np.log10(err[sel].mean())) if sel.any() else None

    n = max(int(holes.sum()), 1)
    return {"chunk": k, "holes": float(holes.mean()), "mixed_share": float(mixed.sum() / n),
            "empty_share": float(empty.sum() / n), "psnr_valid": psnr(valid), "psnr_mixed": psnr(mixed),
            "psnr_edge_band": psnr(band), "psnr_empty": psnr(empty)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path)
    ap.add_argument("--chunks", default=None, help="a-b (default: every chunk but 0)")
    a = ap.parse_args()
    store, cfg = open_stored(a.store)
    if cfg.splat.mask != "longshot":  # the empty/mixed split is that mask's two tests
        raise SystemExit(f"{a.store}: splat.mask={cfg.splat.mask}; the split into empty and mixed holes is the longshot mask's")
    lo, hi = (int(x) for x in a.chunks.split("-")) if a.chunks else (1, cfg.chunk.count - 1)
    rows = [chunk_holes(store, cfg, k) for k in range(lo, hi + 1)]
    print(json.dumps({"store": str(a.store), "memory": cfg.memory.mode, "chunks": rows}, indent=1))


if __name__ == "__main__":
    main()
