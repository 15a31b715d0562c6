"""``worldwarp real-photo``: the real-photo benchmark on any rectified pair (stages/real_photo.py), Middlebury's
Motorcycle when none is given. Options map onto the real_photo section (--set may override any knob)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .checks import check_writable, guarded

PathOpt = Optional[Path]
FloatOpt = Optional[float]


def _overrides(**opts) -> list[str]:
    """real_photo.<knob>=<value> for every option given (paths made absolute, strings JSON-quoted for YAML)."""
    out = []
    for key, value in opts.items():
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(value.expanduser().absolute())
        out.append(f"real_photo.{key}={json.dumps(value)}")
    return out


def real_photo(
        left: Annotated[PathOpt, typer.Option(help="left image (PNG/JPEG, 8/16 bit); none: Middlebury Motorcycle")] = None,
        right: Annotated[PathOpt, typer.Option(help="right image, rectified with the left one, same size")] = None,
        disparity: Annotated[PathOpt, typer.Option(help="left view's disparity, x_right = x_left - d (PNG or PFM)")] = None,
        focal: Annotated[FloatOpt, typer.Option(help="focal length, px at the files' size")] = None,
        baseline: Annotated[FloatOpt, typer.Option(help="baseline, metres")] = None,
        doffs: Annotated[FloatOpt, typer.Option(help="cx_right - cx_left, px (Middlebury's doffs; default 0)")] = None,
        disparity_scale: Annotated[FloatOpt, typer.Option(help="stored value / scale = disparity in px (default 1)")] = None,
        unknown: Annotated[Optional[str], typer.Option(help="disparity value meaning unknown: 0 | inf | nan "
                                                            "(default: 0 for PNG, inf for PFM)")] = None,
        cx: Annotated[FloatOpt, typer.Option(help="principal point x, px, pixel centres at integers (default: centre)")] = None,
        cy: Annotated[FloatOpt, typer.Option(help="principal point y (default: centre)")] = None,
        downscale: Annotated[Optional[int], typer.Option(help="integer area downscale (default: real_photo.downscale)")] = None,
        depth_model: Annotated[bool, typer.Option("--depth-model", help="also run with a depth model's depth (slow; "
                                                  "a random stand-in without estimator.model_dir)")] = False,
        params: Annotated[PathOpt, typer.Option(help="params.yaml")] = None,
        set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="override a knob: section.key=value")] = None,
        out: Annotated[Path, typer.Option(help="output folder: metrics.json and panels/")] = Path("artifacts/real_photo"),
) -> None:
    """Score the 3DGS cache + warp + filler on a real stereo pair: left view in, right view out (docs/REAL_PHOTO.md)."""
    def go() -> None:
        from stages.real_photo import run, summary
        from worldwarp.config import load_params

        knobs = _overrides(left=left, right=right, disparity=disparity, focal=focal, baseline=baseline, doffs=doffs,
                           disparity_scale=disparity_scale, unknown=unknown, cx=cx, cy=cy, downscale=downscale)
        cfg = load_params(params, [*knobs, f"real_photo.depth_model={json.dumps(depth_model)}", *(set_ or [])])
        check_writable(out)
        m = run(cfg, out)
        for line in summary(m):
            typer.echo(line)
        typer.echo(f"metrics: {out / 'metrics.json'}")
    guarded(go)()
