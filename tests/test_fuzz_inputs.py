"""Many kinds of bad input through the CLI: each ends in exit code 2 and at most 3 short lines, never a traceback,
nothing marked complete, nothing written outside the artifact root. Accepted unusual inputs are checked too.

Most cases run the CLI in-process (typer's CliRunner: no interpreter start-up per case); a few run it as a real
subprocess, where exit codes and stderr are the operating system's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from conftest import BIN, cli_env
from flows.cli import app
from worldwarp.io.images import InputImageError, read_image
from worldwarp.store import RunStore

TINY_SET = ["resolution.height=64", "resolution.width=96", "chunk.frames=9", "chunk.history=3", "chunk.count=1",
            "splat.steps=2", "diffusion.backend=classical", "profile=longshot"]


# ---- input builders: each writes its bad input under ``d`` and returns the CLI arguments -----------------

def _png(d: Path, name: str = "ok.png", size=(64, 48)) -> Path:
    p = d / name
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(p)
    return p


def _truncated(d: Path, fmt: str) -> Path:
    full = d / f"full.{fmt}"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(full)
    p = d / f"cut.{fmt}"
    data = full.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    full.unlink()
    return p


def _write(d: Path, name: str, text: str | bytes) -> Path:
    p = d / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def _cams(d: Path, name: str = "cams.npz", n: int = 9, **change) -> Path:
    arrays = {"K": np.tile(np.array([[50.0, 0, 48], [0, 50, 32], [0, 0, 1]]), (n, 1, 1)),
              "R": np.tile(np.eye(3), (n, 1, 1)), "t": np.zeros((n, 3)), "width": 96, "height": 64}
    arrays.update(change)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    p = d / name
    np.savez(p, **arrays)
    return p


def _nan_t(n: int = 9) -> np.ndarray:
    t = np.zeros((n, 3))
    t[4, 2] = np.nan
    return t


def _store_like(d: Path) -> Path:
    p = d / "fake.zarr"
    p.mkdir()
    (p / "zarr.json").write_text("{not json")
    return p


def image_run(make: Callable[[Path], Path]) -> Callable[[Path], list[str]]:
    return lambda d: ["run", "--image", str(make(d))]


def traj_run(make: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    return lambda d: ["run", "--trajectory", str(make(d))]


def params_run(text: str) -> Callable[[Path], list[str]]:
    return lambda d: ["run", "--params", str(_write(d, "params.yaml", text))]


def sets(*overrides: str) -> Callable[[Path], list[str]]:
    return lambda d: ["demo", *[a for o in overrides for a in ("--set", o)]]


# (id, builder, a fragment the one error line must hold); every `run`/`demo` case also gets
# --set artifacts=<tmp>/art and TINY_SET (after the case's own args, so the case's own knob is the bad one)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    # images
    ("empty-file", image_run(lambda d: _write(d, "empty.png", b"")), "empty file"),
    ("truncated-png", image_run(lambda d: _truncated(d, "png")), "not a readable image"),
    ("truncated-jpeg", image_run(lambda d: _truncated(d, "jpg")), "not a readable image"),
    ("text-named-png", image_run(lambda d: _write(d, "notes.png", "hello, not a PNG")), "not a readable image"),
    ("png-header-only", image_run(lambda d: _write(d, "head.png", b"\x89PNG\r\n\x1a\n")), "not a readable image"),
    ("one-pixel", image_run(lambda d: _png(d, "one.png", (1, 1))), "at least"),
    ("thin-strip", image_run(lambda d: _png(d, "strip.png", (400, 8))), "at least"),
    ("image-is-directory", image_run(lambda d: d), "is a directory"),
    ("image-missing", image_run(lambda d: d / "nope.jpg"), "no such file"),
    ("huge-claimed", image_run(lambda d: (Image.new("1", (12000, 7500)).save(d / "huge.png"), d / "huge.png")[1]),
     "too large"),
    ("lab-mode-tiff", image_run(lambda d: (Image.new("LAB", (64, 48)).save(d / "lab.tif"), d / "lab.tif")[1]),
     "colour mode"),
    # trajectories
    ("npz-bad-keys", traj_run(lambda d: (np.savez(d / "c.npz", foo=np.zeros(3)), d / "c.npz")[1]), "c.npz"),
    ("npz-nan-pose", traj_run(lambda d: _cams(d, t=_nan_t())), "nan"),
    ("npz-wrong-shape", traj_run(lambda d: _cams(d, K=np.zeros((9, 3)))), "shape"),
    ("npz-R-missing", traj_run(lambda d: _cams(d, R=None)), "cams.npz"),
    ("npz-not-a-zip", traj_run(lambda d: _write(d, "c.npz", "plain text")), "c.npz"),
    ("npz-empty", traj_run(lambda d: _write(d, "e.npz", b"")), "e.npz"),
    ("re10k-garbage", traj_run(lambda d: _write(d, "cams.txt", "https://x\n1 2 three\n")), "cams.txt"),
    ("traj-missing", traj_run(lambda d: d / "gone.npz"), "gone.npz"),
    ("traj-directory", traj_run(lambda d: d), "is a directory"),
    ("unknown-preset", traj_run(lambda d: "sideways"), "trajectory"),
    # params
    ("yaml-syntax", params_run("chunk: [1, 2\n"), "not valid yaml"),
    ("yaml-list", params_run("- a\n- b\n"), "mapping"),
    # (knobs TINY_SET does not set: its --set values would win over the file's)
    ("yaml-wrong-type", params_run("scene:\n  constant_depth: deep\n"), "scene.constant_depth"),
    ("yaml-unknown-key", params_run("splat:\n  stepz: 3\n"), "unknown key"),
    ("yaml-out-of-range", params_run("trajectory:\n  speed: -2\n"), "trajectory.speed"),
    ("frames-not-4n+1", sets("chunk.frames=48"), "1 + 4n"),
    ("params-missing", lambda d: ["run", "--params", str(d / "none.yaml")], "not found"),
    ("params-directory", lambda d: ["run", "--params", str(d)], "is a directory"),
    ("set-wrong-type", sets("splat.steps=abc"), "splat.steps"),
    ("set-out-of-range", sets("splat.steps=-1"), "splat.steps"),
    ("set-zero-height", sets("resolution.height=0"), "resolution.height"),
    ("set-unknown-section", sets("colour.gamma=2"), "unknown key"),
    ("set-no-equals", sets("splat.steps"), "key=value"),
    ("set-bad-device", sets("device=tpu"), "device"),
    ("deterministic-gsplat", sets("deterministic=true", "splat.backend=gsplat"), "deterministic"),
    # stores
    ("resume-empty-dir", lambda d: ["resume", str(d)], "not a zarr"),
    ("resume-file", lambda d: ["resume", str(_write(d, "x.zarr", "no"))], "x.zarr"),
    ("resume-missing", lambda d: ["resume", str(d / "none.zarr")], "none.zarr"),
    ("resume-broken-store", lambda d: ["resume", str(_store_like(d))], "fake.zarr"),
    ("inspect-file", lambda d: ["inspect", str(_write(d, "x.zarr", "no"))], "x.zarr"),
    ("export-missing", lambda d: ["export", str(d / "none.zarr"), "--out", str(d / "exp")], "none.zarr"),
    # paths
    ("artifacts-is-a-file", lambda d: ["demo", "--set", f"artifacts={_write(d, 'afile', 'x')}"], "not writable"),
]
if not torch.cuda.is_available():
    CASES.append(("cuda-without-cuda", sets("device=cuda"), "cuda"))


def _listing(root: Path, skip: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if skip not in (p, *p.parents)}


def _nothing_complete(art: Path) -> bool:
    for path in (art / "runs").glob("*.zarr") if (art / "runs").is_dir() else []:
        store = RunStore.open(path)
        if store.status == "complete" or any(r.status == "complete" for r in store.summary()):
            return False
    return True


def check_refused(code: int, output: str, fragment: str, art: Path, before: set[str], d: Path, cwd: Path) -> None:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert code == 2, output[-2000:]
    assert "Traceback" not in output
    assert 1 <= len(lines) <= 3, output[-2000:]
    assert lines[-1].startswith("error: "), lines
    assert fragment.lower() in lines[-1].lower(), lines[-1]
    assert _nothing_complete(art)
    assert _listing(d, art) == before, "something was written outside the artifact root"
    assert not any(cwd.iterdir()), "something was written into the working directory"


def _case_args(build, d: Path, art: Path) -> list[str]:
    args = build(d)
    if args[0] in ("run", "demo") and not any(a.startswith("artifacts=") for a in args):
        # the case's own options go last: a bad knob of the case must win over TINY_SET's value
        args = [args[0], "--set", f"artifacts={art}", *[a for o in TINY_SET for a in ("--set", o)], *args[1:]]
    return args


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line(case, tmp_path, monkeypatch):
    name, build, fragment = case
    d, art, cwd = tmp_path / "in", tmp_path / "art", tmp_path / "cwd"
    d.mkdir()
    cwd.mkdir()
    args = _case_args(build, d, art)
    before = _listing(d, art)
    monkeypatch.chdir(cwd)
    res = CliRunner().invoke(app, args, catch_exceptions=True)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    check_refused(res.exit_code, res.output, fragment, art, before, d, cwd)


SUBPROCESS_CASES = [c for c in CASES if c[0] in ("truncated-jpeg", "traj-directory", "set-wrong-type",
                                                   "cuda-without-cuda")]


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES])
def test_bad_input_is_refused_by_the_real_process(case, tmp_path):
    name, build, fragment = case
    d, art, cwd = tmp_path / "in", tmp_path / "art", tmp_path / "cwd"
    d.mkdir()
    cwd.mkdir()
    args = _case_args(build, d, art)
    before = _listing(d, art)
    res = subprocess.run([str(BIN / "worldwarp"), *args], env=cli_env(HOME=str(cwd), TMPDIR=str(art)), cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    check_refused(res.returncode, res.stdout + res.stderr, fragment, art, before, d, cwd)


@pytest.mark.slow
def test_unwritable_artifact_root(tmp_path, tiny):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    cmd = [str(BIN / "worldwarp"), "demo", "--set", f"artifacts={ro / 'art'}", *[a for o in tiny for a in ("--set", o)]]
    if os.geteuid() == 0:  # root ignores permission bits through its capabilities: drop them
        cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *cmd]
    res = subprocess.run(cmd, env=cli_env(HOME=str(tmp_path)), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "not writable" in lines[0], res.stderr[-1500:]
    assert list(ro.iterdir()) == []


def test_internal_error_prints_one_line_and_logs_the_traceback(tmp_path, monkeypatch):
    """A bug (here a stage that raises) is not bad input: exit 1, one line naming a log under the artifact root."""
    import stages.warp

    def broken(*_a, **_k):
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(stages.warp, "run", broken)
    art = tmp_path / "art"
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["demo", "--set", f"artifacts={art}", *[a for o in TINY_SET for a in ("--set", o)]])
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert res.exit_code == 1 and len(lines) == 1, res.output[-2000:]
    assert "Traceback" not in res.output and "ZeroDivisionError: injected" in lines[0]
    log = Path(lines[0].rsplit("traceback in ", 1)[1].rstrip(")"))
    assert log.parent == art / "logs" and "Traceback" in log.read_text() and "injected" in log.read_text()


# ---- inputs that are unusual but fine: accepted, converted, and recorded ---------------------------------

def _save(path: Path, im: Image.Image, **kw) -> Path:
    im.save(path, **kw)
    return path


def _gradient(w: int = 64, h: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                           np.full((h, w, 1), 128, np.float32)], -1).astype(np.uint8)


ACCEPTED = {
    "gray16": lambda d: _save(d / "g16.png", Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16))),
    "cmyk-jpeg": lambda d: _save(d / "c.jpg", Image.fromarray(_gradient()).convert("CMYK"), quality=95),
    "palette": lambda d: _save(d / "p.png", Image.fromarray(_gradient()).convert("P")),
    "palette-transparent": lambda d: _save(d / "pt.png", Image.fromarray(_gradient()).convert("P"), transparency=0),
    "grey-alpha": lambda d: _save(d / "la.png", Image.fromarray(_gradient()).convert("LA")),
    "bilevel": lambda d: _save(d / "b.png", Image.fromarray(_gradient()).convert("1")),
    "rgba": lambda d: _save(d / "a.png", Image.fromarray(_gradient()).convert("RGBA")),
    "gif-animated": lambda d: _save(d / "a.gif", Image.fromarray(_gradient()).convert("P"), save_all=True,
                                    append_images=[Image.fromarray(255 - _gradient()).convert("P")]),
}


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_unusual_images_are_accepted_and_converted(kind, tmp_path):
    img, notes = read_image(ACCEPTED[kind](tmp_path))
    assert img.shape == (48, 64, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
    assert notes["size"] == [64, 48] and notes["format"] in ("PNG", "JPEG", "GIF")
    if kind == "gray16":  # 16-bit keeps its range: the largest value maps to its share of 65535
        assert img.max() == pytest.approx(float((64 * 48 - 1) * 20) / 65535, abs=1e-6)
    if kind == "cmyk-jpeg":  # colours survive the CMYK round trip (JPEG loss aside)
        assert np.abs(img - _gradient() / 255.0).mean() < 0.05
    if kind == "gif-animated":
        assert notes["frames"] == "first of 2"
    else:
        assert "converted" in notes


def _oriented_jpeg(path: Path, orientation: int) -> Path:
    a = np.zeros((40, 60, 3), np.uint8)
    a[:6, :, 0] = 255  # a red band along the stored top edge
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif, quality=95)
    return path


@pytest.mark.parametrize("orientation,band", [(1, "top"), (3, "bottom"), (6, "right"), (8, "left")])
def test_exif_orientation_is_applied(orientation, band, tmp_path):
    img, notes = read_image(_oriented_jpeg(tmp_path / "o.jpg", orientation))
    assert img.shape[:2] == ((40, 60) if orientation in (1, 3) else (60, 40))
    red = img[..., 0] > 0.5
    side = {"top": red[:4].mean(), "bottom": red[-4:].mean(), "left": red[:, :4].mean(), "right": red[:, -4:].mean()}
    assert max(side, key=side.get) == band and side[band] > 0.9
    assert notes.get("exif_orientation") == (None if orientation == 1 else orientation)


def test_bad_mode_is_a_one_line_error(tmp_path):
    p = tmp_path / "lab.tif"
    Image.new("LAB", (64, 48)).save(p)
    with pytest.raises(InputImageError, match="colour mode LAB"):
        read_image(p)


@pytest.mark.slow
def test_run_records_what_was_done_to_the_photo(tmp_path, monkeypatch):
    """A portrait phone photo (landscape pixels + EXIF 6) runs, and the input group's attrs say what happened."""
    photo = _oriented_jpeg(tmp_path / "portrait.jpg", 6)
    art = tmp_path / "art"
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["run", "--image", str(photo), "--run-id", "p", "--set", f"artifacts={art}",
                                   "--set", "scene.depth_estimator=constant", *[a for o in TINY_SET for a in ("--set", o)]])
    assert res.exit_code == 0, res.output[-2000:]
    import json

    attrs = json.loads((art / "runs" / "p.zarr" / "input" / "zarr.json").read_text())["attributes"]
    src = attrs["source_image"]
    assert src["exif_orientation"] == 6 and src["oriented"] == "rotated 90 clockwise"
    assert src["size"] == [60, 40]  # the stored pixels; the photo is 40 wide x 60 high once oriented
    assert src["crop"] is not None and src["resize"][2:] == [64, 96]
