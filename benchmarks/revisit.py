"""Revisit benchmark (issue 26): does the longshot remember? Exact and weight-free, on a procedural scene.

Paths (out leg = a forward camera file of ``(frames + 1) // 2`` cameras, ``--distance`` metres):
  identical  the file played with trajectory.extend=pingpong: frame j on the way back has exactly the pose of
             frame 2 (M - 1) - j on the way out
  offset     the same way back, every camera moved ``--offset`` metres to its right (a file of every frame)
  pan360     a full turn in place that closes on itself (no out leg): 3/4 of the frames turn 360 degrees, the last
             quarter repeats the first frames' poses exactly, so the way back is a revisit after a whole turn
  orbit360   the same closed turn about the point 3 m ahead, looking at it (parallax all the way round)
  excursion  out ``--distance`` m, then a 90 degree turn to the left (the start view leaves the frame), and back
             along the same poses (pingpong)
Fillers:
  classical  the project's push-pull filler (diffusion.backend=classical)
  oracle     a benchmark backend, never a default: holes filled with the scene's exact render, perturbed per chunk
             (a colour gain per channel in [0.85, 1.15], Gaussian noise sigma 0.02, a shift of up to 2 px), a
             stand-in for a generator that invents plausible but different content each time. Its runs carry
             ``diffusion.prompt`` = "noisy-oracle ..." so their content keys never meet a classical run's.
  exact      the same backend unperturbed: holes filled with the exact render itself, a filler that invents nothing
             wrong. What is left against the exact render is the cache's own loss (warp, 3DGS fit, re-render), the
             bound below which no filler and no memory brings the decay. Not in ``all`` unless asked for.
Metrics (one JSON per run): revisit PSNR/SSIM between the two frames at each identical pose (by gap), PSNR/SSIM
against the exact render per frame, per chunk and per leg, hole fraction, Gaussians, retrieval, 3DGS fit and chunk
time per chunk, the frames retrieved, peak RSS of the run's process, and where the two visits differ by which visit
filled the pixel (``revisit_by_holes``: neither, first only, return only, both). ``report`` writes metrics.json, a table
(results.md), per-frame PSNR curves per mode and the revisit matrix (frame x frame PSNR where poses match).

    OMP_NUM_THREADS=1 python benchmarks/revisit.py run --mode world --filler classical --path identical --out DIR
    python benchmarks/revisit.py report DIR
    python benchmarks/revisit.py all --out DIR          (every mode x filler x path, one process each, then report)
    python benchmarks/revisit.py rescore --out DIR      (every run of DIR scored again from its store, in place)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stages.common import once  # noqa: E402
from stages.inputs import start_pose, chunk_cameras  # noqa: E402
from stages.keys import all_keys  # noqa: E402
from stages.runner import run_longshot  # noqa: E402
from worldwarp.chunks import chunk_span  # noqa: E402
from worldwarp.config import load_params  # noqa: E402
from worldwarp.config.camera import TrajectoryConfig  # noqa: E402
from worldwarp.geometry.cameras import Cameras  # noqa: E402
from worldwarp.geometry.trajectory import make_trajectory  # noqa: E402
from worldwarp.geometry.trajectory_io import save_cameras_npz  # noqa: E402
from worldwarp.metrics.image import psnr, ssim  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402

MODES, FILLERS = ("fresh", "append", "world"), ("classical", "oracle", "exact")
PATHS = ("identical", "offset", "pan360", "orbit360", "excursion")


def settings(a) -> list[str]:
    return [f"resolution.height={a.height}", f"resolution.width={a.width}", "chunk.frames=17", "chunk.history=5",
            f"chunk.count={a.chunks}", f"splat.steps={a.steps}", "trajectory.fov_deg=60.0", f"scene.name={a.scene}",
            "diffusion.backend=classical", "device=cpu", "tracking.mlflow=false", "store.keep_renders=false"]


def camera_file(a, total: int, out: Path) -> tuple[Path, list[str], int]:
    """The path's camera file, the trajectory overrides that play it, and the first frame of the way back."""
    cfg = load_params(None, settings(a))
    if a.path in ("pan360", "orbit360", "excursion") and a.preset != "forward":  # refused, not ignored
        raise SystemExit(f"revisit.py: --preset {a.preset} does not apply to --path {a.path} (its own path)")
    if a.path in ("pan360", "orbit360"):
        return closed_turn(a, total, out, cfg)
    if a.path == "excursion":
        return excursion(a, total, out, cfg)
    m = (total + 1) // 2
    tr = TrajectoryConfig(preset=a.preset, distance=a.distance, fov_deg=60.0)
    cams = make_trajectory(tr, m, a.width, a.height, start_pose(cfg))
    if a.path == "identical":
        path = save_cameras_npz(out / f"out_leg_{m}.npz", cams)
        return path, [f"trajectory.file={path}", "trajectory.extend=pingpong"], m
    back = torch.arange(2 * (m - 1) - m, -1, -1)[: total - m]  # frame m + i has the pose of frame m - 2 - i
    w2c = cams.w2c[back].clone()
    w2c[:, 0, 3] -= a.offset  # camera centre moved along its own x axis (right): t' = t - offset * e_x
    full = Cameras(torch.cat([cams.K, cams.K[back]]), torch.cat([cams.w2c, w2c]), a.width, a.height)
    path = save_cameras_npz(out / f"offset_{total}_{a.offset:g}.npz", full)
    return path, [f"trajectory.file={path}", "trajectory.extend=error"], m


def closed_turn(a, total: int, out: Path, cfg) -> tuple[Path, list[str], int]:
    """A full turn that closes on itself: pan360 turns 360 degrees in place (no parallax), orbit360 circles the
    point 3 m ahead looking at it (the room's orbit presets' pivot: the far side of the circle looks back at the
    start). The first ``m`` = 3/4 of the frames make the turn; the rest repeat the first frames' poses exactly
    (frame m + i is frame i): a revisit after a whole turn."""
    m = (3 * total) // 4
    preset = "pan_left" if a.path == "pan360" else "orbit_left"
    tr = TrajectoryConfig(preset=preset, angle_deg=360.0, fov_deg=60.0)
    turn = make_trajectory(tr, m + 1, a.width, a.height, start_pose(cfg))  # frame m of this is frame 0 again
    idx = torch.arange(total) % m
    cams = Cameras(turn.K[idx], turn.w2c[idx], a.width, a.height)
    path = save_cameras_npz(out / f"{a.path}_{total}.npz", cams)
    return path, [f"trajectory.file={path}", "trajectory.extend=error"], m


def excursion(a, total: int, out: Path, cfg) -> tuple[Path, list[str], int]:
    """Out ``--distance`` m down the hall, then a 90 degree turn to the left (the start view's content leaves the
    frame: the camera looks at the side wall and back up the hall, ground the input never saw), then back along
    the same poses (played as pingpong): the views of the way out come back after an excursion out of sight."""
    m = (total + 1) // 2
    m1 = m // 2
    leg = make_trajectory(TrajectoryConfig(preset="forward", distance=a.distance, fov_deg=60.0), m1, a.width, a.height,
                          start_pose(cfg))
    turn = make_trajectory(TrajectoryConfig(preset="pan_left", angle_deg=90.0, fov_deg=60.0), m - m1 + 1, a.width,
                           a.height, leg.w2c[-1])
    cams = Cameras(torch.cat([leg.K, turn.K[1:]]), torch.cat([leg.w2c, turn.w2c[1:]]), a.width, a.height)
    path = save_cameras_npz(out / f"excursion_out_{m}.npz", cams)
    return path, [f"trajectory.file={path}", "trajectory.extend=pingpong"], m


def oracle_frames(store, k: int, cfg, scene, perturb: bool = True) -> tuple[dict, dict]:
    """Chunk k's frames: the warp where valid, the exact render (perturbed per chunk unless not ``perturb``) in the
    holes."""
    from stages.warp import read_render

    sp = chunk_span(cfg.chunk, k)
    rgb = np.asarray(read_render(store, k), np.float32)
    mask = np.asarray(store.read_array(k, "warp", "mask")).astype(bool)
    exact = scene.render(chunk_cameras(store.read_input(), sp))[0].numpy()
    rng = np.random.default_rng(cfg.seed + 1000 + k)
    gain = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
    fake = np.roll(exact, (dy, dx), axis=(1, 2)) * gain + rng.normal(0, 0.02, exact.shape).astype(np.float32)
    if not perturb:
        fake, gain, dy, dx = exact, np.ones(3, np.float32), 0, 0
    out = np.where(mask[..., None], rgb, np.clip(fake, 0, 1)).astype(np.float32)
    out[: sp.history] = rgb[: sp.history]
    return {"rgb": out}, {"denoiser": "noisy-oracle" if perturb else "exact-oracle", "gain": gain.tolist(),
                          "shift": [dy, dx],
                          "hole_fraction": float(1 - mask[sp.history:].mean())}


def run_one(a) -> Path:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    # --set chunk.frames=49 for full size; the mode too, so that --set memory.* knobs of world apply
    total = load_params(None, [*settings(a), f"memory.mode={a.mode}", *a.set]).chunk.total_frames
    cam_path, traj, back = camera_file(a, total, out)
    name = f"{a.scene}_{a.path}_{a.filler}_{a.mode}" + ("" if a.preset == "forward" else f"_{a.preset}") \
        + (f"_{a.tag}" if a.tag else "")
    extra = [f"memory.mode={a.mode}", f"artifacts={out / 'artifacts'}", *traj]
    if a.filler != "classical":  # a prompt of its own, so the content keys never meet another filler's
        extra.append(f"diffusion.prompt={'noisy' if a.filler == 'oracle' else 'exact'}-oracle benchmark filler "
                     "(benchmarks/revisit.py)")
    cfg = load_params(None, [*settings(a), *extra, *a.set])
    scene = make_scene(cfg.scene.name)
    holder = {}

    def on_open(store):
        holder["store"] = store

    peaks = StagePeaks()

    def on_stage(k: int, stage: str) -> None:
        peaks.enter(stage)
        if a.filler != "classical" and stage == "denoise":
            store = holder["store"]
            key = all_keys(cfg, store.attrs["input_digest"])[(k, "denoise")]
            once(store, k, "frames", key, lambda: oracle_frames(store, k, cfg, scene, perturb=a.filler == "oracle"))

    t0 = time.perf_counter()
    stamps: list[float] = []
    store = run_longshot(cfg, name, on_open=on_open, on_stage=on_stage, replace=True,
                         on_chunk=lambda k: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    peaks.enter(None)
    t1 = time.perf_counter()
    scores = score(store, cfg, scene, total, back)
    res = {"name": name, "mode": a.mode, "tag": a.tag, "knobs": a.set, "filler": a.filler, "path": a.path, "scene": a.scene,
           "size": [a.height, a.width], "chunks": a.chunks, "steps": a.steps, "frames": total, "wall_s": wall,
           "chunk_wall_s": np.diff([t0, *stamps]).tolist(), "peak_rss_mb": peak_rss_mb(), "back_start": back,
           "peak_gpu_gib": max(peaks.gib.values()) if peaks.gib else None, "peak_gpu_gib_by_stage": peaks.gib,
           "device": torch.cuda.get_device_name() if cfg.device.startswith("cuda") else platform.processor() or "cpu",
           **scores, "score_s": time.perf_counter() - t1, "camera_file": str(cam_path)}
    path = out / f"{name}.json"
    path.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if not isinstance(v, list)}, indent=1))
    return path


class StagePeaks:
    """The pipeline's peak GPU memory per stage (max over chunks): torch's peak counter read and reset as each
    stage starts (run_longshot's on_stage), so where a mode's extra memory goes shows, and the run's scoring
    afterwards does not count."""

    def __init__(self) -> None:
        self.gib: dict[str, float] = {}
        self.stage: str | None = None
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def enter(self, stage: str | None) -> None:
        if not self.cuda:
            return
        if self.stage is not None:
            peak = torch.cuda.max_memory_allocated() / 2**30
            self.gib[self.stage] = max(self.gib.get(self.stage, 0.0), peak)
        torch.cuda.reset_peak_memory_stats()
        self.stage = stage


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def score(store, cfg, scene, total: int, m: int) -> dict:
    inp = store.read_input()
    K, w2c = np.asarray(inp["K"]), np.asarray(inp["w2c"])
    H, W = cfg.resolution.height, cfg.resolution.width
    video = torch.from_numpy(store.read_video().astype(np.float32) / 255.0)
    dev = cfg.device if cfg.device.startswith("cuda") else "cpu"  # the exact render and the scores where it ran
    p, s = [], []
    for i in range(0, total, BATCH):  # a 1000-frame full-size video is 4 GB in float32
        exact = scene.render(Cameras(K[i:i + BATCH], w2c[i:i + BATCH], W, H).to(dev))[0]
        got = video[i:i + BATCH].to(dev)
        p += psnr(got, exact).tolist()
        s += ssim(got, exact).tolist()
    legs = {"out": list(range(1, m)), "back": list(range(m, total))}
    res = {"psnr": p, "ssim": s, "leg_psnr": {n: float(np.mean([p[i] for i in v])) for n, v in legs.items()},
           "leg_ssim": {n: float(np.mean([s[i] for i in v])) for n, v in legs.items()}}
    res.update(revisits(video, K, w2c, m, total, dev, holes=HoleMasks(store, cfg)))
    res["per_chunk"] = per_chunk(store, cfg, p, s)
    return res


class HoleMasks:
    """The warp's hole mask of any video frame (True = filled, not carried by the cache), read from the store chunk
    by chunk; the input frame has none. The pairs come in order, so three chunks held at a time is enough."""

    def __init__(self, store, cfg) -> None:
        self.store, self.chunk = store, cfg.chunk
        self.held: dict[int, np.ndarray] = {}

    def __call__(self, f: int) -> np.ndarray:
        k = 0 if f < self.chunk.frames else (f - self.chunk.frames) // self.chunk.new_frames + 1
        sp = chunk_span(self.chunk, k)
        if not sp.new_start <= f < sp.stop:
            raise AssertionError(f"frame {f} is not chunk {k}'s ({sp.new_start}..{sp.stop - 1})")
        if k not in self.held:
            if len(self.held) >= 3:  # the least recently used (the pairs walk both visits' chunks at once)
                self.held.pop(next(iter(self.held)))
            self.held[k] = ~np.asarray(self.store.read_array(k, "warp", "mask")).astype(bool)
        self.held[k] = self.held.pop(k)  # most recently used last
        holes = self.held[k][f - sp.start]
        return np.zeros_like(holes) if f == 0 else holes


def _centres(w2c: np.ndarray) -> np.ndarray:
    return -np.einsum("nji,nj->ni", w2c[:, :3, :3], w2c[:, :3, 3])


def revisits(video: torch.Tensor, K: np.ndarray, w2c: np.ndarray, m: int, total: int, dev: str = "cpu",
             holes=None) -> dict:
    """Pairs (out frame i, back frame j) whose cameras are identical (revisit consistency) and the PSNR of every
    pair within 10 cm and 5 degrees (the picture's matrix, stored sparse: [i, j - m, PSNR] rows, j then i order);
    the pairs are found for all frames at once and scored ``BATCH`` at a time on ``dev``."""
    c = _centres(w2c.astype(np.float64))
    rot = w2c[:, :3, :3].astype(np.float64)
    dist = np.linalg.norm(c[m:total, None] - c[None, :m], axis=-1)  # (back, out)
    cos = (np.einsum("jab,iab->ji", rot[m:total], rot[:m]) - 1) / 2  # trace(R_i^T R_j)
    ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    near_j, near_i = np.nonzero((dist < 0.10) & (ang < 5))
    # arccos of a trace is too coarse for "identical": entry by entry
    same = (dist < 1e-5) & (np.abs(rot[m:total, None] - rot[None, :m]).max(axis=(-1, -2)) < 1e-5)
    pair_j, pair_i = np.nonzero(same)
    near_p = _pairwise(psnr, video, near_j + m, near_i, dev)
    near = [[int(i), int(j), round(v, 3)] for i, j, v in zip(near_i, near_j, near_p)]
    if not len(pair_i):
        return {"revisit_pairs": 0, "revisit_near": {"shape": [m, total - m], "rows": near}}
    i, j = pair_i.tolist(), (pair_j + m).tolist()
    rp, rs = _pairwise(psnr, video, j, i, dev), _pairwise(ssim, video, j, i, dev)
    gaps = [b - a for a, b in zip(i, j)]
    bins = [(0, 12), (13, 24), (25, 48), (49, 72), (73, 10**9)]
    by_gap = {f"{lo}-{hi if hi < 10**9 else 'max'}": float(np.mean([v for v, g in zip(rp, gaps) if lo <= g <= hi]))
              for lo, hi in bins if any(lo <= g <= hi for g in gaps)}
    res = {"revisit_pairs": len(i), "revisit_psnr_mean": float(np.mean(rp)), "revisit_psnr_min": float(np.min(rp)),
           "revisit_ssim_mean": float(np.mean(rs)), "revisit_psnr_by_gap": by_gap,
           "revisit_near": {"shape": [m, total - m], "rows": near}}
    if holes is not None:  # where the visits differ: what the cache carried, or what a filler invented
        far = [(a, b) for a, b in zip(i, j) if b - a > 24]
        res["revisit_by_holes"] = {"all": by_holes(video, list(zip(i, j)), holes),
                                   "gap > 24": by_holes(video, far, holes) if far else None}
    return res


HOLE_CLASSES = ("neither", "first_only", "return_only", "both")


def by_holes(video: torch.Tensor, pairs: list[tuple[int, int]], holes) -> dict:
    """Where the two visits of the revisit pairs differ, pooled over the pairs: each pixel classed by which visit
    filled it (a hole of the warp there) — neither (both carried by the cache), only the first visit, only the
    return, both — with the class's share of the pixels, its share of the squared difference, and its PSNR between
    the visits. A memory can only make the cache's pixels agree; what a filler invents anew on the return is the
    filler's."""
    err, n = np.zeros(4), np.zeros(4)
    for a, b in pairs:
        d = ((video[a].double() - video[b].double()) ** 2).mean(-1).numpy()
        cls = holes(a).astype(np.int64) + 2 * holes(b).astype(np.int64)  # 0 neither, 1 first, 2 return, 3 both
        err += np.bincount(cls.ravel(), weights=d.ravel(), minlength=4)
        n += np.bincount(cls.ravel(), minlength=4)
    # psnr None: no pixel of the class, or the visits are identical there
    return {c: {"pixel_share": float(n[q] / n.sum()), "error_share": float(err[q] / err.sum()) if err.sum() else 0.0,
                "psnr": float(10 * np.log10(n[q] / err[q])) if n[q] and err[q] else None}
            for q, c in enumerate(HOLE_CLASSES)}


BATCH = 16  # frames per scoring batch: a full-size frame is 4 MB in float32


def _pairwise(metric, video: torch.Tensor, a, b, dev: str) -> list[float]:
    """metric(video[a[k]], video[b[k]]) for every k, BATCH pairs at a time on ``dev``."""
    a, b = torch.as_tensor(np.asarray(a, np.int64)), torch.as_tensor(np.asarray(b, np.int64))
    out: list[float] = []
    for s in range(0, len(a), BATCH):
        out += metric(video[a[s:s + BATCH]].to(dev), video[b[s:s + BATCH]].to(dev)).tolist()
    return out


def per_chunk(store, cfg, p: list[float], s: list[float]) -> list[dict]:
    rows = []
    for k in range(cfg.chunk.count):
        sp = chunk_span(cfg.chunk, k)
        new = range(sp.new_start, sp.stop)
        g = store.stage_attrs(k, "gaussians")
        rows.append({"chunk": k, "psnr": float(np.mean([p[i] for i in new])), "ssim": float(np.mean([s[i] for i in new])),
                     "hole_fraction": store.stage_attrs(k, "warp").get("hole_fraction"), "gaussians": g.get("count"),
                     "gaussians_s": g.get("compute_seconds"), "fit_s": g.get("fit_seconds"),
                     "retrieval_s": g.get("retrieval_seconds"), "retrieved": [r["video_frame"] for r in g.get("retrieved", [])],
                     "coverage_history": g.get("coverage_history"), "coverage_retrieved": g.get("coverage_retrieved")})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmd", choices=("run", "report", "all", "rescore"))
    ap.add_argument("--mode", choices=MODES, default="world")
    ap.add_argument("--filler", choices=FILLERS, default="classical")
    ap.add_argument("--path", choices=PATHS, default="identical")
    ap.add_argument("--scene", default="room")
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--steps", type=int, default=150, help="3DGS steps per chunk (the demo's 150)")
    ap.add_argument("--distance", type=float, default=1.0, help="metres of the out leg")
    ap.add_argument("--preset", default="forward", choices=("forward", "backward", "truck_left", "truck_right"),
                    help="the out leg's movement (backward and truck: no magnification, a control for the decay)")
    ap.add_argument("--offset", type=float, default=0.05, help="metres the offset return lies to the right")
    ap.add_argument("--params", type=Path, help="all: take the settings from this params file's revisit section "
                    "(and its seed and memory knobs) instead of the options")
    ap.add_argument("--set", action="append", default=[], help="extra key=value overrides (all runs)")
    ap.add_argument("--tag", default="", help="run: a suffix for the run's name and JSON (a variant's --set knobs)")
    ap.add_argument("--out", default="artifacts/revisit")
    a = ap.parse_args()
    if a.tag and (a.cmd != "run" or not re.fullmatch(r"[A-Za-z0-9-]+", a.tag)):
        ap.error(f"--tag {a.tag!r}: only with run, and letters, digits and '-' only")
    torch.set_num_threads(1)
    if a.cmd == "run":
        run_one(a)
    elif a.cmd == "all":
        run_all(a)
    elif a.cmd == "rescore":
        rescore(Path(a.out))
    else:
        write_report(Path(a.out))


def run_all(a) -> None:
    """Every path x filler x mode, one process each (its own peak memory), then the report."""
    modes, fillers, paths, world = ["fresh", "world"], ["classical", "oracle"], list(PATHS), []
    if a.params:
        from worldwarp.config import load_params as load

        cfg = load(a.params)
        rv = cfg.revisit
        for n in ("scene", "height", "width", "chunks", "steps", "distance", "offset"):
            setattr(a, n, getattr(rv, n))
        modes, fillers, paths = rv.modes, rv.fillers, rv.paths
        a.set = [*a.set, f"seed={cfg.seed}"]
        # as YAML values: an unset knob (None) is `null` on the command line
        world = [f"memory.{n}={'null' if v is None else v}" for n, v in cfg.memory.model_dump().items() if n != "mode"]
    for path in paths:
        for filler in fillers:
            for mode in modes:
                sets = [*a.set, *(world if mode == "world" else [])]
                argv = [sys.executable, __file__, "run", "--mode", mode, "--filler", filler, "--path", path,
                        *sum(([f"--{n}", str(getattr(a, n))] for n in ("scene", "height", "width", "chunks", "steps",
                                                                       "distance", "offset", "out")), []),
                        *sum((["--set", v] for v in sets), [])]
                subprocess.run(argv, check=True)
    write_report(Path(a.out))


def rescore(out: Path) -> None:
    """Score every run of ``out`` again from its store (out/artifacts/runs/<name>.zarr) with this code, in place:
    the metrics of a finished run after the scoring changed, without running it again. Each JSON records when and
    at which commit (``rescored``); timings and the run's own settings stay as the run wrote them."""
    from stages.runner import stored_config
    from worldwarp.store import RunStore

    runs = {p: out / "artifacts" / "runs" / f"{p.stem}.zarr"  # where run_one put each run's store
            for p in sorted(out.glob("*.json")) if p.name != "metrics.json"}
    if not runs:
        raise SystemExit(f"revisit.py rescore: {out}: no run results to score again")
    missing = [p.stem for p, zarr in runs.items() if not zarr.is_dir()]
    if missing:  # refused before any is rewritten: a folder is rescored whole or not at all
        raise SystemExit(f"revisit.py rescore: {out}: no store for {', '.join(missing)} (artifacts/runs/<name>.zarr)")
    commit = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or None
    for p, zarr in runs.items():
        res = json.loads(p.read_text())
        store = RunStore.open(zarr)
        cfg = stored_config(store)
        res.update(score(store, cfg, make_scene(cfg.scene.name), res["frames"], res["back_start"]))
        res["rescored"] = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                           "commit": commit}
        p.write_text(json.dumps(res, indent=1))
        print(f"{p}: revisit {res.get('revisit_psnr_mean')}")


def write_report(out: Path) -> None:
    from revisit_report import write  # benchmarks/revisit_report.py: the table, metrics.json and the pictures

    write(out, datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), machine())


def machine() -> str:
    """Where the runs ran, as measured now: the GPU if there is one, the CPU count and load otherwise."""
    load = "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    where = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, {load})"
    return f"{torch.cuda.get_device_name()} on {where}" if torch.cuda.is_available() else where


if __name__ == "__main__":
    main()
