"""How good the exported world is: world.ply rendered at every camera of the run, against the run's own frames and,
for a procedural scene (known geometry), against its exact render. Written beside world.ply as world_score.json."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..geometry.cameras import Cameras
from ..metrics.image import psnr, ssim
from ..splat import Gaussians, rasterize


def _summary(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "min": float(v.min()), "median": float(np.median(v)), "per_frame": v.tolist()}


@torch.no_grad()
def score_world(g: Gaussians, store, cams: Cameras, exact=None, device: str = "cpu", batch: int = 8,
                progress: bool = False, held: list[int] | None = None) -> dict:
    """PSNR/SSIM of ``g`` rendered at each camera of ``cams`` (the run's, frame i = video frame i) against the
    stored video and, with ``exact`` (cameras -> (rgb (N, H, W, 3) in [0, 1], ...)), against the exact render;
    ``held``: frames no fit saw, also summarised apart (``*_held``)."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    g = g.to(device)
    res: dict[str, list[float]] = {"psnr_frames": [], "ssim_frames": [], "psnr_exact": [], "ssim_exact": []}
    for s in tqdm(range(0, len(cams), batch), desc="world.ply score", unit="batch", disable=not progress):
        c = cams[s : s + batch]
        img = rasterize(g, c.K.to(device), c.w2c.to(device), c.width, c.height, with_depth=False).rgb
        img = img.clamp(0, 1).float()
        # scored where it was rendered: SSIM of a 1000-frame full-size run on the CPU takes minutes
        frames = torch.from_numpy(store.read_video(slice(s, s + len(c)))).to(device).float() / 255.0
        res["psnr_frames"] += psnr(img, frames).tolist()
        res["ssim_frames"] += ssim(img, frames).tolist()
        if exact is not None:
            ref = exact(c.to(device))[0].float().to(device)
            res["psnr_exact"] += psnr(img, ref).tolist()
            res["ssim_exact"] += ssim(img, ref).tolist()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    out = {"gaussians": len(g), "cameras": len(cams), "device": _device_name(device),
           "seconds": time.perf_counter() - t0}
    out.update({k: _summary(v) for k, v in res.items() if v})
    if held:
        out["held_out_frames"] = len(held)
        out.update({f"{k}_held": _summary([v[i] for i in held]) for k, v in res.items() if v})
    return out


def score_device(name: str) -> str:
    """``--device`` of `export --world`: auto is CUDA where there is one; cuda without one is an error."""
    from ..checks import DeviceError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA device is available here (use --device auto or cpu)")
    return name


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"


def score_line(score: dict) -> str:
    """One line for the terminal: what world.ply reproduces, at how many cameras, in how long."""
    line = (f"world.ply: {score['gaussians']} Gaussians rendered at the run's {score['cameras']} cameras: PSNR "
            f"{score['psnr_frames']['mean']:.2f} dB (min {score['psnr_frames']['min']:.2f}) against the run's frames")
    if "psnr_frames_held" in score:
        line += f" ({score['psnr_frames_held']['mean']:.2f} dB on the {score['held_out_frames']} held out of the fit)"
    if "psnr_exact" in score:
        line += f", {score['psnr_exact']['mean']:.2f} dB against the exact render"
    made = f"fused and refined {score['refine_steps']} steps in {score['fuse_refine_seconds']:.1f} s, " \
        if "refine_steps" in score else ""
    return line + f" ({made}scored in {score['seconds']:.1f} s on {score['device']})"
