"""`worldwarp real-photo` on your own pair: a stereo pair rendered here from a procedural scene (exact disparity and
calibration), the pair's files read as documented, and every refused input as one line with exit code 2."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from flows.cli import app
from worldwarp.geometry.cameras import Cameras, intrinsics_from_fov
from worldwarp.metrics.image import psnr
from worldwarp.realphoto import covisibility
from worldwarp.realphoto.pair_io import RealPhotoError, read_disparity, read_image
from worldwarp.scenes import make_scene

H, W, BASELINE = 48, 64, 0.25  # metres: disparities of 3-10 px here
STEPS = 10  # 3DGS steps: the same in the command and in the direct warp


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Left / right renders of the room, the right camera BASELINE to the right (doffs 0), files as Middlebury
    stores them: 8-bit left, 16-bit right, float PFM disparity with inf where unknown."""
    scene = make_scene("room")
    K = intrinsics_from_fov(W, H, 60.0)
    w2c_l = scene.start_pose()
    w2c_r = w2c_l.clone()
    w2c_r[0, 3] -= BASELINE  # camera centre + B along its own x axis
    rgb, z = scene.render(Cameras(K.expand(2, 3, 3), torch.stack([w2c_l, w2c_r]), W, H))
    rgb, z = rgb.numpy(), z.numpy()
    f = float(K[0, 0])
    disp = (f * BASELINE / z[0]).astype(np.float32)
    disp[:4, :4] = np.inf  # a few unknown pixels
    d = tmp_path_factory.mktemp("pair")
    cv2.imwrite(str(d / "left.png"), cv2.cvtColor((rgb[0] * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "right.png"), cv2.cvtColor((rgb[1] * 65535).round().astype(np.uint16), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "disp.pfm"), disp)
    return {"dir": d, "rgb": rgb, "z": z, "disp": disp, "focal": f, "K": K, "w2c": torch.stack([w2c_l, w2c_r])}


def _args(p, *extra, **over) -> list[str]:
    opts = {"left": p["dir"] / "left.png", "right": p["dir"] / "right.png", "disparity": p["dir"] / "disp.pfm",
            "focal": p["focal"], "baseline": BASELINE, **over}
    args = ["real-photo"]
    for k, v in opts.items():
        if v is not None:
            args += [f"--{k.replace('_', '-')}", str(v)]
    return [*args, "--downscale", "1", "--set", "device=cpu", *extra]


def _invoke(args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_files_are_read_as_documented(pair):
    d = pair["dir"]
    assert np.abs(read_image(d / "left.png") - pair["rgb"][0]).max() <= 0.5 / 255 + 1e-6  # uint8 / 255
    assert np.abs(read_image(d / "right.png") - pair["rgb"][1]).max() <= 0.5 / 65535 + 1e-6  # uint16 / 65535
    disp = read_disparity(d / "disp.pfm")  # PFM: inf = unknown by default, rows in the image's order
    assert np.isnan(disp[:4, :4]).all() and np.array_equal(disp[4:], pair["disp"][4:])
    png = np.full((H, W), 40, np.uint16)
    png[0, 0] = 0
    cv2.imwrite(str(d / "d16.png"), png)
    assert np.isnan(read_disparity(d / "d16.png", scale=4.0)[0, 0])  # PNG: 0 = unknown by default
    assert read_disparity(d / "d16.png", scale=4.0)[1, 1] == 10.0
    assert read_disparity(d / "d16.png", unknown="inf")[0, 0] == 0.0  # a measured zero when told so
    with pytest.raises(RealPhotoError, match="float image"):
        cv2.imwrite(str(d / "f.pfm"), np.full((H, W), 3.0, np.float32))
        read_image(d / "f.pfm", "left image")


def test_covisible_psnr_matches_a_direct_warp_of_the_exact_render(pair, tmp_path):
    """The command (files, disparity -> depth, principal point, cameras) against the project's cache and warp
    run directly on the exact render with the scene's own two cameras: the same co-visible PSNR."""
    from worldwarp.config import load_params
    from worldwarp.splat import Sources, build_cache, warp

    res = _invoke(_args(pair, "--set", f"real_photo.steps={STEPS}", "--set", "real_photo.frames=2",
                        "--set", "diffusion.classical_fill=depth_aware", "--out", tmp_path))
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert "model" not in m and m["pair"]["height"] == H and m["pair"]["focal_px"] == pytest.approx(pair["focal"])
    r = m["measured"]
    splat = load_params(None, []).splat.model_copy(update={"steps": STEPS})
    rgb0 = torch.from_numpy(read_image(pair["dir"] / "left.png"))[None]  # the same 8-bit input
    z0, K, w2c = torch.from_numpy(pair["z"][:1]), pair["K"][None], pair["w2c"]
    g, _ = build_cache(rgb0, z0, K, w2c[:1], splat, backend=splat.backend, seed=0)
    out = warp(g, Cameras(K.expand(2, 3, 3), w2c, W, H), splat, Sources(z0, K, w2c[:1]), backend=splat.backend)
    cov = covisibility(np.where(np.isfinite(pair["disp"]), pair["disp"], np.nan))
    keep = torch.from_numpy(cov.covisible)[None] & out.mask[1:]
    direct = float(psnr(out.rgb[1:], torch.from_numpy(pair["rgb"][1:]), keep))
    assert abs(r["psnr_covisible_warped"] - direct) < 0.5, (r["psnr_covisible_warped"], direct)
    assert r["psnr_covisible"] > direct - 3  # holes on co-visible pixels filled, not left black
    for k in ("psnr_occluded", "ssim_occluded", "psnr_outside_left"):
        assert k in r
    assert r["denoiser"] == "depth-aware-inpaint" and (tmp_path / "panels/right_measured.png").is_file()


def _bad_files(d):
    cv2.imwrite(str(d / "small.png"), np.zeros((H - 16, W, 3), np.uint8))
    cv2.imwrite(str(d / "small.pfm"), np.ones((H, W - 16), np.float32))
    cv2.imwrite(str(d / "zeros.png"), np.zeros((H, W), np.uint8))
    (d / "junk.pfm").write_text("not an image")


BAD = [  # (option changes, fragment of the one error line)
    ({"right": "small.png"}, "right image"),
    ({"disparity": "small.pfm"}, "but the images are"),
    ({"disparity": "junk.pfm"}, "not a readable image"),
    ({"disparity": "missing.pfm"}, "no such file"),
    ({"disparity": "zeros.png"}, "measured"),
    ({"focal": 0}, "--focal"),
    ({"focal": math.nan}, "real_photo.focal: Input should be a finite number"),  # the config tree refuses it first
    ({"baseline": -0.1}, "--baseline"),
    ({"baseline": math.inf}, "real_photo.baseline: Input should be a finite number"),
    ({"doffs": -5}, "--doffs"),
    ({"cx": 500}, "--cx"),
    ({"disparity_scale": 0.05}, "land inside the right image"),
    ({"unknown": "sometimes"}, "real_photo.unknown"),
    ({"right": None}, "real_photo.right"),
    ({"focal": None}, "real_photo.focal"),
]


@pytest.mark.parametrize("change,fragment", BAD, ids=[f"{list(c)[0]}={list(c.values())[0]}" for c, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(pair, tmp_path, change, fragment):
    _bad_files(pair["dir"])
    change = {k: (pair["dir"] / v if isinstance(v, str) and "." in v else v) for k, v in change.items()}
    res = _invoke(_args(pair, "--out", tmp_path, **change))
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert fragment.lower() in lines[0].lower() and "Traceback" not in res.output
    assert not (tmp_path / "metrics.json").exists()


def test_a_calibration_option_without_a_pair_is_refused(tmp_path):
    res = _invoke(["real-photo", "--focal", "500", "--out", tmp_path])
    assert res.exit_code == 2 and "real_photo.focal applies to your own pair only" in res.output
