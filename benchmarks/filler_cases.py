"""The warped chunks benchmarks/fillers.py fills: the project's cache and warp on a procedural scene (exact
render as the truth of every frame) and on the Middlebury Motorcycle pair (the real right view as the truth of
the last frame). Built once per run and cached as .npz under --cache so both fillers see the same warp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from worldwarp.config import WorldWarpConfig, load_params


def _warp_chunk(rgb0, depth0, K, w2c, cams, cfg: WorldWarpConfig) -> dict[str, np.ndarray]:
    """Cache of one RGB-D frame, warped into ``cams``; frame 0 is the input (history) and counts as valid."""
    from worldwarp.splat import Sources, build_cache, warp

    g, _ = build_cache(rgb0[None], depth0[None], K[None], w2c[None], cfg.splat, backend=cfg.splat.backend, seed=cfg.seed)
    out = warp(g, cams, cfg.splat, Sources(depth0[None], K[None], w2c[None]), backend=cfg.splat.backend)
    rgb, depth, alpha, mask = out.rgb.clone(), out.depth.clone(), out.alpha.clone(), out.mask.clone()
    rgb[0], depth[0], alpha[0], mask[0] = rgb0, depth0, 1.0, True
    return {"warped": rgb.numpy(), "mask": mask.numpy(), "depth": depth.numpy(), "alpha": alpha.numpy(),
            "K": cams.K.numpy(), "w2c": cams.w2c.numpy()}


def procedural_case(scene_name: str, preset: str, amount: float, cfg: WorldWarpConfig, frames: int) -> dict:
    """One chunk (history = the input frame) of ``preset`` on a procedural scene, at cfg.resolution."""
    from worldwarp.config.camera import TrajectoryConfig
    from worldwarp.geometry.trajectory import make_trajectory
    from worldwarp.scenes import make_scene

    scene = make_scene(scene_name)
    key = "distance" if preset in ("forward", "backward", "truck_left", "truck_right") else "angle_deg"
    tcfg = TrajectoryConfig(preset=preset, **{key: amount})
    H, W = cfg.resolution.height, cfg.resolution.width
    cams = make_trajectory(tcfg, frames, W, H, scene.start_pose())
    truth, tdepth = scene.render(cams)
    case = _warp_chunk(truth[0], tdepth[0], cams.K[0], cams.w2c[0], cams, cfg)
    return {**case, "truth": truth.numpy(), "truth_depth": tdepth.numpy()}


def motorcycle_case(cfg: WorldWarpConfig) -> dict:
    """The real-photo benchmark's chunk (real_photo.frames cameras from the left view to the right one)."""
    from worldwarp.realphoto import covisibility, load_motorcycle, measured_input_depth, stereo_trajectory

    rp = cfg.real_photo
    pair = load_motorcycle(rp.downscale)
    cov = covisibility(pair.disparity)
    c = cfg.model_copy(update={"splat": cfg.splat.model_copy(update={"steps": rp.steps})})
    depth0 = torch.from_numpy(measured_input_depth(pair))
    case = _warp_chunk(torch.from_numpy(pair.left), depth0, pair.K("left"), pair.w2c("left"),
                       stereo_trajectory(pair, rp.frames), c)
    return {**case, "right": pair.right, "right_depth": pair.depth(cov.disparity_right), "left": pair.left,
            "disparity": pair.disparity, "covisible": cov.covisible, "occluded": cov.occluded, "unknown": cov.unknown}


def cached(cache: Path | None, name: str, make) -> dict:
    if cache is not None and (cache / f"{name}.npz").is_file():
        return dict(np.load(cache / f"{name}.npz"))
    case = make()
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache / f"{name}.npz", **case)
    return case


if __name__ == "__main__":  # build the cases into a cache folder: python benchmarks/filler_cases.py DIR
    import sys

    torch.set_num_threads(1)
    cfg = load_params(None, ["resolution.height=160", "resolution.width=256", "splat.steps=150", "device=cpu"])
    out = Path(sys.argv[1])
    if "motorcycle" in sys.argv[2:]:
        cached(out, "motorcycle", lambda: motorcycle_case(load_params(Path("params.yaml"), ["device=cpu"])))
    else:
        cached(out, "room_forward", lambda: procedural_case("room", "forward", 0.62, cfg, 17))
        cached(out, "garden_orbit", lambda: procedural_case("garden", "orbit_left", 16.0, cfg, 17))
