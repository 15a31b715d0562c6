"""Everything about a run that can be checked at second 0, before any stage computes (pure checks, no orchestration).

- the input photo is readable, and its depth has a source someone chose: a photo whose depth would come from the
  constant plane only because nothing was configured is refused (``check_photo_depth``);
- the camera path is finite and followable (worldwarp/geometry/sanity.py: bounds per frame, relative to the
  scene's depth scale and the field of view);
- every model folder or file a stage of this run will load is complete and the right shape, from headers alone
  (safetensors headers, torch pickles memory-mapped; no tensor data is read): the estimator (depth model folder or
  TTT3R checkpoint), the Wan backbone (transformer, VAE, text encoder, tokenizer), the ST-Diff weights against
  the backbone's transformer, the captioner. A broken file fails here, not when its stage first loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import WorldWarpConfig
    from .geometry.cameras import Cameras
    from .geometry.sanity import PathSummary


def check_photo_depth(cfg: "WorldWarpConfig") -> None:
    """A photo's first-frame depth must be a choice: a depth model (estimator.backend + model_dir) or
    ``scene.depth_estimator=constant``; 'auto' falling back to the plane is refused."""
    from .config import ConfigError

    s = cfg.scene
    if s.image is not None and s.depth_estimator == "auto" and cfg.estimator.backend == "ground_truth":
        raise ConfigError(f"scene.image {s.image}: nothing gives the photo's depth; set a depth model "
                          "(estimator.backend=depth_anything|depth_pro|ttt3r with estimator.model_dir=...), or say "
                          f"scene.depth_estimator=constant for a flat plane at scene.constant_depth ({s.constant_depth:g} m)")


def depth_scale(cfg: "WorldWarpConfig", cams: "Cameras") -> float:
    """The scene's depth scale D for the path bounds: median depth of a procedural scene's first view (rendered
    small), or ``scene.constant_depth`` for a photo (its model's scale is unknown before it runs)."""
    if cfg.scene.image is not None:
        return float(cfg.scene.constant_depth)
    import torch

    from .geometry.cameras import Cameras
    from .scenes import make_scene

    f = 48 / cams.width  # a 48-pixel-wide view is plenty for a median
    K = cams.K[:1].clone()
    K[:, :2] *= f
    w, h = 48, max(1, round(cams.height * f))
    depth = make_scene(cfg.scene.name).render(Cameras(K, cams.w2c[:1], w, h))[1]
    valid = depth[torch.isfinite(depth) & (depth > 0)]
    return float(valid.median()) if valid.numel() else float(cfg.scene.constant_depth)


def path_summary(cams: "Cameras") -> "PathSummary":
    from .geometry.sanity import summarize

    return summarize(cams.K.numpy(), cams.w2c.numpy(), cams.width)


def trajectory_line(cfg: "WorldWarpConfig", cams: "Cameras") -> str:
    """The run log's line for the path: kind, name, turn, travel."""
    from .geometry.names import trajectory_source
    from .geometry.sanity import describe

    kind, name = trajectory_source(cfg.trajectory)
    return describe(kind, name, path_summary(cams), units="m" if cfg.scene.image is None else "scene units")


def check_trajectory(cfg: "WorldWarpConfig", cams: "Cameras") -> str:
    """``trajectory_line``, after refusing a path a run cannot follow (CameraError naming the bound)."""
    from .geometry.names import trajectory_source
    from .geometry.sanity import check_path

    kind, name = trajectory_source(cfg.trajectory)
    check_path(path_summary(cams), depth_scale(cfg, cams), f"trajectory ({kind} {name})")
    return trajectory_line(cfg, cams)


def trajectory_record(cfg: "WorldWarpConfig", K, w2c, width: int) -> dict:
    """What the run follows (from its cameras K (N, 3, 3), w2c (N, 4, 4)), for the store's root attrs."""
    from .geometry.names import trajectory_source
    from .geometry.sanity import summarize

    kind, name = trajectory_source(cfg.trajectory)
    s = summarize(K, w2c, width)
    return {"kind": kind, "name": name, "frames": s.frames, "turn_deg": round(s.turn_deg, 6),
            "travel": round(s.travel, 6), "net": round(s.net, 6), "zoom": round(s.zoom, 6)}


def model_paths(cfg: "WorldWarpConfig") -> list[tuple[str, Path]]:
    """(what, path) of every model a stage of this run loads."""
    out = []
    e = cfg.estimator
    if e.backend != "ground_truth" and e.model_dir:
        out.append((e.backend, Path(e.model_dir).expanduser()))
    d = cfg.diffusion
    if d.backend == "stdiff" and d.model_dir:
        out.append(("wan", Path(d.model_dir).expanduser()))
        if d.stdiff_weights:
            out.append(("stdiff", Path(d.stdiff_weights).expanduser()))
    if cfg.prompt.captioner_dir:
        out.append(("captioner", Path(cfg.prompt.captioner_dir).expanduser()))
    return out


def _ttt3r(path: Path) -> str:
    import torch

    from .diffusion.checkpoint import check_against
    from .estimators.ttt3r.checkpoint import read_checkpoint
    from .estimators.ttt3r.model import Cut3rModel

    cfg, sd, f = read_checkpoint(path)  # memory-mapped: the pickle is read, no tensor data
    with torch.device("meta"):
        expected = Cut3rModel(cfg).state_dict()
    check_against(sd, expected, f, what="the TTT3R/CUT3R network its stored model string describes", hint="")
    return f"{f}: {len(sd)} tensors, keys and shapes match"


def check_models(cfg: "WorldWarpConfig") -> list[str]:
    """One line per model checked; CheckpointError naming the first broken file (headers and shapes only)."""
    from .diffusion.checkpoint import CheckpointError
    from .weights.check import Reference, check_depth, check_qwen, check_stdiff, check_wan
    from .weights.expected import component_expected

    lines = []
    for what, path in model_paths(cfg):
        if what == "ttt3r":
            lines.append(_ttt3r(path))
            continue
        if what == "stdiff":
            wan = Path(cfg.diffusion.model_dir).expanduser() / "transformer"
            findings = [check_stdiff(path, Reference(str(wan / "config.json"), component_expected(wan)[1]))]
        else:
            findings = {"wan": check_wan, "captioner": check_qwen}.get(what, check_depth)(path)
        bad = next((f for f in findings if not f.ok), None)
        if bad is not None:
            raise CheckpointError(f"{what} model {path}: {bad.detail}")
        lines.extend(f"{what} {f.component}: {f.detail}" for f in findings)
    return lines


def check_quantize(cfg: "WorldWarpConfig") -> None:
    """int8 prompt models need torchao: said before any stage, not at the first caption."""
    stdiff = cfg.diffusion.backend == "stdiff"
    wanted = [name for name, on in (("prompt.quantize", stdiff and cfg.prompt.captioner_dir and cfg.prompt.quantize == "int8"),
                                    ("diffusion.text_encoder_quantize", stdiff and cfg.diffusion.text_encoder_quantize == "int8"))
              if on]
    from .quantize import torchao_missing

    why = torchao_missing() if wanted else None
    if why:
        from .checks.errors import UserError

        raise UserError(f"{'=int8, '.join(wanted)}=int8 (lowvram={str(cfg.lowvram).lower()}): {why}")


def check_run(cfg: "WorldWarpConfig", cams: "Cameras", new_run: bool = True) -> list[str]:
    """All of the above, cheapest first; lines for the run log. ``new_run=False`` (a resume) accepts what the
    run was started with: a store written before the photo-depth rule keeps resuming."""
    if cfg.scene.image is not None:
        from .io.images import read_image

        read_image(cfg.scene.image)  # a bad photo is named as such before anything is said about its depth
        if new_run:
            check_photo_depth(cfg)
    line = check_trajectory(cfg, cams)
    check_quantize(cfg)
    return [line, *check_models(cfg)]


__all__ = ["check_models", "check_photo_depth", "check_quantize", "check_run", "check_trajectory", "depth_scale", "model_paths",
           "trajectory_line", "trajectory_record"]
