"""The classical fillers side by side (diffusion.classical_fill = pushpull | depth_aware), same warps, same run.

    python benchmarks/fillers.py [--cache DIR] [--out artifacts/fillers] [--pictures docs/results]

Cases (benchmarks/filler_cases.py; built once, cached under --cache):
- room_forward / garden_orbit: one demo-sized chunk (160x256, 17 frames, history = the input frame, 150 3DGS
  steps) of the forward path (0.62 m: one chunk of the demo's 2 m) and of a 16-degree left orbit (one chunk of the
  garden_orbit experiment's 40 degrees). Truth: the exact render of every frame. Scores over the warp's holes of
  the new frames: PSNR, and flicker = mean |frame t - frame t-1| over pixels that are holes in both (the exact
  render's own value is printed beside it: camera motion alone changes those pixels that much), and
  flicker_error = mean |(frame t - frame t-1) - (exact t - exact t-1)| there (the change that is not the scene's).
- motorcycle: the real-photo benchmark's chunk (params.yaml's real_photo: downscale 2, 5 frames, 100 steps),
  the last frame scored as ``worldwarp real-photo`` scores it (psnr_occluded: true occlusions inside the left
  view; psnr_covisible; ...).
On the procedural cases also the PSNR of each filler over the hole pixels each step of the depth-aware fill took
(``by_step``: a source's colour, an earlier frame's points, the 2D fill), with each step's share of the holes.
Also the seconds of one filler call on the room_forward chunk (the demo's size), median of 3.
Writes OUT/fillers.json and, with --pictures, small before/after PNGs there.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from filler_cases import cached, motorcycle_case, procedural_case  # noqa: E402
from worldwarp.config import load_params  # noqa: E402
from worldwarp.diffusion import FillGeometry, needs_geometry  # noqa: E402
from worldwarp.diffusion.classical import DepthAwareFiller, PushPullFiller  # noqa: E402

FILLERS = {"pushpull": PushPullFiller, "depth_aware": DepthAwareFiller}


def fill(name: str, case: dict, history: int = 1) -> tuple[np.ndarray, float]:
    den = FILLERS[name]()
    w, m = torch.from_numpy(case["warped"]), torch.from_numpy(case["mask"].astype(np.float32))
    geo = FillGeometry(*(torch.from_numpy(case[k]) for k in ("depth", "K", "w2c", "alpha")))
    t0 = time.perf_counter()
    res = den(w, m, history, seed=0, progress=False, **({"geometry": geo} if needs_geometry(den) else {}))
    return res.frames.numpy(), time.perf_counter() - t0


def _psnr(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / ((a - b) ** 2).mean(-1)[m].mean()))


def fill_steps(case: dict, history: int = 1) -> np.ndarray:
    """Which step of the depth-aware fill (background_fill.FILL_STEPS) filled each hole pixel of the case: the same
    fill_chunk call DepthAwareFiller makes, before its temporal smoothing."""
    from worldwarp.diffusion.background_fill import fill_chunk

    steps = np.zeros(case["mask"].shape, np.int8)
    g = [case[k].astype(np.float64) for k in ("depth", "K", "w2c", "alpha")]
    fill_chunk(case["warped"], case["mask"].astype(bool), *g, history=history, steps=steps)
    return steps


def by_step(case: dict, out: np.ndarray, steps: np.ndarray) -> dict:
    """PSNR over the hole pixels each depth-aware step filled (any filler's output on the same pixels), with the
    step's share of the hole pixels: where a filler gains or loses."""
    from worldwarp.diffusion.background_fill import FILL_STEPS

    holes = _new_holes(case)
    sel = {name: holes & (steps == c) for c, name in FILL_STEPS.items()}
    return {name: {"share": float(m.sum() / holes.sum()), "psnr": _psnr(out, case["truth"], m) if m.any() else None}
            for name, m in sel.items()}


def _new_holes(case: dict) -> np.ndarray:
    """The warp's holes in the frames the filler fills (all but the history frame)."""
    holes = ~case["mask"].astype(bool)
    holes[0] = False  # the history frame
    return holes


def procedural_scores(case: dict, out: np.ndarray) -> dict:
    holes = _new_holes(case)
    both = holes[1:] & holes[:-1]
    diff = lambda x: float(np.abs(x[1:] - x[:-1]).mean(-1)[both].mean())  # noqa: E731
    # the flicker that is not the scene's: frame-to-frame change minus the exact render's change, same pixels
    wrong = float(np.abs((out[1:] - out[:-1]) - (case["truth"][1:] - case["truth"][:-1])).mean(-1)[both].mean())
    return {"psnr_holes": _psnr(out, case["truth"], holes), "flicker": diff(out), "flicker_truth": diff(case["truth"]),
            "flicker_error": wrong, "hole_fraction": float(holes[1:].mean())}


def motorcycle_scores(case: dict, out: np.ndarray) -> dict:
    from worldwarp.realphoto import covisibility
    from worldwarp.realphoto.scores import score_right_view

    cov = covisibility(case["disparity"])  # as the real-photo benchmark classifies the right view's pixels
    return score_right_view(out[-1], case["depth"][-1], case["mask"][-1], case["right"], case["right_depth"], cov)


def pictures(dest: Path, name: str, case: dict, outs: dict[str, np.ndarray], truth: np.ndarray, frame: int,
             cols: slice = slice(None)) -> None:
    """truth | warp (holes black) | pushpull | depth_aware, one frame (columns ``cols``), 8-bit PNG."""
    import imageio.v3 as iio

    warp = case["warped"][frame] * case["mask"][frame][..., None]
    row = np.concatenate([x[:, cols] for x in (truth, warp, outs["pushpull"][frame], outs["depth_aware"][frame])], 1)
    dest.mkdir(parents=True, exist_ok=True)
    iio.imwrite(dest / f"filler_{name}.png", (row.clip(0, 1) * 255).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("artifacts/fillers/cases"))
    ap.add_argument("--out", type=Path, default=Path("artifacts/fillers"))
    ap.add_argument("--pictures", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    demo = load_params(None, ["resolution.height=160", "resolution.width=256", "splat.steps=150", "device=cpu"])
    cases = {
        "room_forward": lambda: procedural_case("room", "forward", 0.62, demo, 17),
        "garden_orbit": lambda: procedural_case("garden", "orbit_left", 16.0, demo, 17),
        "motorcycle": lambda: motorcycle_case(load_params(ROOT / "params.yaml", ["device=cpu"])),
    }
    report: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} "
                    "torch threads (shared machine: seconds are high)"}
    for name, make in cases.items():
        case = cached(args.cache, name, make)
        outs, secs, rows = {}, {}, {}
        steps = fill_steps(case) if "truth" in case else None
        for f in FILLERS:
            outs[f], secs[f] = fill(f, case)
            s = procedural_scores(case, outs[f]) if "truth" in case else motorcycle_scores(case, outs[f])
            rows[f] = {**s, "seconds": secs[f]}
            if steps is not None:  # by the depth-aware step that filled the pixel (both fillers, the same pixels)
                rows[f]["by_step"] = by_step(case, outs[f], steps)
            print(name, f, {k: round(v, 4) if isinstance(v, float) else v for k, v in rows[f].items()})
        if name == "room_forward":  # the demo's size: seconds of one call, median of 3
            for f in FILLERS:
                rows[f]["seconds_median3"] = float(np.median([fill(f, case)[1] for _ in range(3)]))
        report[name] = rows
        if args.pictures is not None:
            last = len(case["mask"]) - 1
            truth = case["truth"][last] if "truth" in case else case["right"]
            # Motorcycle: the right half (front wheel, fork, shelves) keeps the PNG small
            pictures(args.pictures, name, case, outs, truth, last, slice(truth.shape[1] // 2, None) if "right" in case else slice(None))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fillers.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.out / 'fillers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
