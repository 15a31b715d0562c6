"""3DGS cache + validity mask of the two profiles (official = the authors' recipe, longshot = ours) against the
exact ground truth of the procedural scenes.

Per scene: the chunk's first ``history`` views (exact RGB-D) seed and fit the cache with each profile's splat
knobs; every view of the chunk is warped; the history views' masks are set valid, as the warp stage does. Then:
  - pixel holes: recall / precision of (mask == 0) against the exact disocclusion mask (new views only);
  - token holes: a token (16 x 16 pixels of one latent frame, latent frame j >= history latents covering pixel
    frames 4j-3..4j) is a TRUE hole iff any of its pixels in any frame of its group is disoccluded. Each profile's
    mask is pooled the way its denoiser reads it: official = pixel frame 4j, top-left pixel of each 16 x 16 block
    (their every-4th-frame slice, nearest 1/8 downsample, then the token's top-left latent); longshot =
    latent_grid.pool_mask_to_tokens(mask, "min") >= 0.5;
  - PSNR of the warp against the exact render on the mask's valid pixels (new views);
  - seconds to seed + optimise the cache, and its size.

At a reduced size (the CPU default) the knobs counted in pixels are scaled with the image (per-frame and total
seed caps by the pixel count, the erosion box by the height, odd), so each profile keeps its density and its
erosion's reach relative to the frame; --exact-knobs keeps the profile values as they are.

    python benchmarks/profiles.py --device cpu --out DIR                        # CPU: 96x160, 17 frames
    python benchmarks/profiles.py --device cuda --height 480 --width 720 --frames 49 --steps 500 --out DIR
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from worldwarp.config import load_params  # noqa: E402
from worldwarp.config.camera import TrajectoryConfig  # noqa: E402
from worldwarp.config.splat import SplatConfig  # noqa: E402
from worldwarp.diffusion.latent_grid import frame_groups, history_latent_frames, pool_mask_to_tokens  # noqa: E402
from worldwarp.geometry.trajectory import make_trajectory  # noqa: E402
from worldwarp.scenes import make_scene  # noqa: E402
from worldwarp.splat import Sources, build_cache, warp  # noqa: E402

FULL_PIXELS, FULL_HEIGHT = 480 * 720, 480
TOKEN = 16


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:  # platform.processor() is empty on most Linux machines
        model = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.machine()
    return f"{model}, {torch.get_num_threads()} threads"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def scaled(cfg: SplatConfig, H: int, W: int) -> SplatConfig:
    """The knobs counted in pixels, scaled from 480 x 720 to H x W."""
    r = H * W / FULL_PIXELS
    k = cfg.mask_erosion
    if k > 1:
        k = max(1, round(k * H / FULL_HEIGHT))
        k += 1 - k % 2
    return cfg.model_copy(update={
        "max_points_per_frame": math.ceil(cfg.max_points_per_frame * r), "max_points": math.ceil(cfg.max_points * r),
        "mask_erosion": k})


def official_tokens(mask: torch.Tensor) -> torch.Tensor:
    """(T, H/16, W/16) token validity as the authors' denoiser reads the pixel mask (F, H, W)."""
    return mask[::4, ::TOKEN, ::TOKEN].float()


def true_token_holes(dis: torch.Tensor) -> torch.Tensor:
    """(T, H/16, W/16): any disoccluded pixel of the token's block in any frame of its latent group."""
    groups = [dis[a:b].any(0) for a, b in frame_groups(dis.shape[0])]
    return torch.nn.functional.max_pool2d(torch.stack(groups).float()[:, None], TOKEN)[:, 0] > 0


def recall_precision(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float | None, float | None]:
    tp = float((pred & truth).sum())
    return (tp / float(truth.sum()) if truth.any() else None, tp / float(pred.sum()) if pred.any() else None)


def evaluate(profile: str, cfg: SplatConfig, truth: dict, history: int, device: torch.device, seed: int) -> dict:
    cams, rgb, depth, dis = truth["cams"], truth["rgb"], truth["depth"], truth["dis"]
    h = history
    sync(device)
    t0 = time.perf_counter()
    g, losses = build_cache(rgb[:h], depth[:h], cams.K[:h], cams.w2c[:h], cfg, backend=cfg.backend, progress=True,
                            seed=seed)
    sync(device)
    fit_s = time.perf_counter() - t0
    out = warp(g, cams, cfg, Sources(depth[:h], cams.K[:h], cams.w2c[:h]), backend=cfg.backend)
    mask = out.mask.clone()
    mask[:h] = True  # the history views are known: the warp stage writes them as valid
    new_mask, new_dis = mask[h:], dis[h:]
    pix_r, pix_p = recall_precision(~new_mask, new_dis)
    err = ((out.rgb[h:] - rgb[h:]) ** 2).mean(-1)[new_mask]
    psnr = 10 * math.log10(1 / max(float(err.mean()), 1e-12)) if err.numel() else None
    tokens = official_tokens(mask) if profile == "official" else pool_mask_to_tokens(mask, "min")
    lat0 = history_latent_frames(h)
    tok_r, tok_p = recall_precision(tokens[lat0:] < 0.5, true_token_holes(dis)[lat0:])
    return {"gaussians": len(g), "fit_s": fit_s, "steps": cfg.steps, "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None, "pixel_recall": pix_r, "pixel_precision": pix_p,
            "token_recall": tok_r, "token_precision": tok_p, "psnr_valid_db": psnr,
            "coverage": float(new_mask.float().mean()), "disoccluded": float(new_dis.float().mean()),
            "knobs": cfg.model_dump(mode="json")}


def ground_truth(scene_name: str, H: int, W: int, frames: int, history: int, distance: float, device) -> dict:
    scene = make_scene(scene_name)
    cams = make_trajectory(TrajectoryConfig(preset="forward", distance=distance), frames, W, H,
                           scene.start_pose()).to(device)
    rgb, depth = scene.render(cams)
    return {"cams": cams, "rgb": rgb, "depth": depth, "dis": scene.disocclusion_mask(cams[:history], cams)}


def fmt(x) -> str:
    return "—" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def print_table(res: dict) -> None:
    print(f"\n{res['device']} — {res['date']} — {res['size'][0]}x{res['size'][1]}, {res['frames']} frames, "
          f"history {res['history']}, {res['steps']} steps")
    cols = ("gaussians", "fit_s", "token_recall", "token_precision", "pixel_recall", "pixel_precision",
            "psnr_valid_db", "coverage")
    print("| scene | profile | " + " | ".join(cols) + " |\n|" + " --- |" * (len(cols) + 2))
    for scene, profs in res["scenes"].items():
        for prof, r in profs.items():
            print(f"| {scene} | {prof} | " + " | ".join(fmt(r.get(c)) for c in cols) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--history", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--distance", type=float, default=2.0, help="forward travel of the chunk's cameras")
    ap.add_argument("--scenes", default="room,garden")
    ap.add_argument("--exact-knobs", action="store_true", help="no scaling of pixel-counted knobs at reduced size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench_out"))
    args = ap.parse_args()
    if args.height % TOKEN or args.width % TOKEN or (args.frames - 1) % 4:
        sys.exit(f"size must be a multiple of {TOKEN} and frames 1 + 4n")
    device = torch.device(args.device)
    H, W = args.height, args.width
    res: dict = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device_name(device),
                 "torch": torch.__version__, "size": [H, W], "frames": args.frames, "history": args.history,
                 "steps": args.steps, "scaled_knobs": not args.exact_knobs and H * W != FULL_PIXELS, "scenes": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    for scene in args.scenes.split(","):
        truth = ground_truth(scene, H, W, args.frames, args.history, args.distance, device)
        res["scenes"][scene] = {}
        for profile in ("official", "longshot"):
            cfg = load_params(None, [f"profile={profile}", f"splat.steps={args.steps}"]).splat
            if res["scaled_knobs"]:
                cfg = scaled(cfg, H, W)
            res["scenes"][scene][profile] = evaluate(profile, cfg, truth, args.history, device, args.seed)
            (args.out / "profiles.json").write_text(json.dumps(res, indent=1))
            print(f"{scene} {profile}: " + ", ".join(f"{k}={fmt(v)}" for k, v in res["scenes"][scene][profile].items()
                                                     if k != "knobs"), flush=True)
    print_table(res)
    print(f"wrote {args.out / 'profiles.json'}")


if __name__ == "__main__":
    main()
