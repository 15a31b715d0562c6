"""Bad input: one line on stderr, a non-zero exit, and nothing marked complete."""

import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import BIN, ROOT, cli_env


def _run(args, cwd=ROOT, unprivileged=False):
    cmd = [str(BIN / "worldwarp"), *args]
    if unprivileged and os.geteuid() == 0:
        # root ignores permission bits through its capabilities: drop them all (same uid, so the venv stays
        # readable wherever the checkout lies) to test the bits for real
        cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *cmd]
    return subprocess.run(cmd, env=cli_env(HOME="/tmp"), cwd=cwd, capture_output=True, text=True, timeout=300)


def _assert_one_line_error(res, fragment):
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert lines, "no error message"
    assert lines[-1].startswith("error: "), res.stderr[-1500:]
    assert fragment.lower() in lines[-1].lower(), lines[-1]
    assert "Traceback" not in res.stderr


def _assert_demo_refused(out, tiny, sets, fragment):
    """`worldwarp demo` with the tiny knobs and ``sets`` ends in one error line naming ``fragment``, no stage done."""
    res = _run(["demo", "--set", f"artifacts={out}", *[a for o in [*tiny, *sets] for a in ("--set", o)]])
    _assert_one_line_error(res, fragment)
    assert _no_complete_stage(out)


def _no_complete_stage(root):
    runs = root / "runs"
    if not runs.exists():
        return True
    from worldwarp.store import RunStore

    for path in runs.glob("*.zarr"):
        store = RunStore.open(path)
        if any(row.status == "complete" for row in store.summary()):
            return False
    return True


def _save(path, arr, mode=None):
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def out(tmp_path):
    return tmp_path / "artifacts"


def _run_image(image, out, tiny, extra=()):
    return _run(["run", "--image", str(image), "--set", f"artifacts={out}", *[a for o in tiny for a in ("--set", o)], *extra])


def test_not_an_image(tmp_path, out, tiny):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a PNG")
    res = _run_image(bad, out, tiny)
    _assert_one_line_error(res, "not a readable image")
    assert _no_complete_stage(out)


def test_missing_image(tmp_path, out, tiny):
    _assert_one_line_error(_run_image(tmp_path / "nope.jpg", out, tiny), "no such file")


def test_one_pixel_image(tmp_path, out, tiny):
    p = _save(tmp_path / "one.png", np.zeros((1, 1, 3), np.uint8))
    _assert_one_line_error(_run_image(p, out, tiny), "at least")
    assert _no_complete_stage(out)


def test_huge_image(tmp_path, out, tiny):
    # a 1-bit image that claims 90 megapixels stays a small file on disk
    p = tmp_path / "huge.png"
    Image.new("1", (12000, 7500)).save(p)
    _assert_one_line_error(_run_image(p, out, tiny), "MP")


@pytest.mark.parametrize("kind", ["gray", "rgba", "gray16"])
def test_unusual_image_modes_are_converted(tmp_path, kind):
    from worldwarp.io.images import load_image

    rng = np.random.default_rng(0)
    if kind == "gray":
        p = _save(tmp_path / "g.png", rng.integers(0, 255, (40, 50), dtype=np.uint8))
    elif kind == "rgba":
        a = rng.integers(0, 255, (40, 50, 4), dtype=np.uint8)
        a[..., 3] = 255
        p = _save(tmp_path / "a.png", a)
    else:
        p = tmp_path / "g16.png"
        Image.fromarray(rng.integers(0, 65535, (40, 50), dtype=np.uint16)).save(p)
    img = load_image(p)
    assert img.shape == (40, 50, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.1


def test_trajectory_with_nan(tmp_path, out, tiny):
    n = 9
    K = np.tile(np.array([[50.0, 0, 48], [0, 50, 32], [0, 0, 1]]), (n, 1, 1))
    R = np.tile(np.eye(3), (n, 1, 1))
    t = np.zeros((n, 3))
    t[3, 1] = np.nan
    p = tmp_path / "cams.npz"
    np.savez(p, K=K, R=R, t=t, width=96, height=64)
    res = _run(["run", "--trajectory", str(p), "--set", f"artifacts={out}", *[a for o in tiny for a in ("--set", o)]])
    _assert_one_line_error(res, "nan")
    assert _no_complete_stage(out)


def test_trajectory_wrong_shape(tmp_path, out, tiny):
    p = tmp_path / "cams.npz"
    np.savez(p, K=np.zeros((9, 3)), R=np.zeros((9, 3, 3)), t=np.zeros((9, 3)), width=96, height=64)
    res = _run(["run", "--trajectory", str(p), "--set", f"artifacts={out}", *[a for o in tiny for a in ("--set", o)]])
    _assert_one_line_error(res, "shape")


def test_unknown_param(out):
    _assert_one_line_error(_run(["demo", "--set", "splat.stepz=3", "--set", f"artifacts={out}"]), "unknown key")


@pytest.mark.parametrize("cmd", [["run", "--dry-run"], ["run"], ["demo"]])
@pytest.mark.parametrize("run_id", ["../elsewhere", "", ".hidden", "a/b"])
def test_a_run_id_the_store_would_refuse_is_refused_first(cmd, run_id, out):
    """--run-id names a folder under artifacts/runs: a name that is not one (a path, empty, hidden) is one line
    before anything runs, and --dry-run, which checks names, says so too instead of passing it."""
    res = _run([*cmd, "--run-id", run_id, "--set", f"artifacts={out}"])
    _assert_one_line_error(res, f"invalid run id name {run_id!r}")
    assert not out.exists()


def test_bad_params_file(tmp_path, out):
    p = tmp_path / "params.yaml"
    p.write_text("chunk:\n  frames: 48\n")
    _assert_one_line_error(_run(["run", "--params", str(p), "--set", f"artifacts={out}"]), "1 + 4n")


def test_missing_checkpoint_dir(tmp_path, out, tiny):
    res = _run(["demo", "--set", f"artifacts={out}", *[a for o in tiny for a in ("--set", o)],
                "--set", "diffusion.backend=stdiff", "--set", f"diffusion.model_dir={tmp_path / 'no-such-model'}"])
    _assert_one_line_error(res, "no-such-model")
    assert _no_complete_stage(out)


def test_output_dir_not_writable(tmp_path, tiny):
    ro = tmp_path / "readonly"
    ro.mkdir()
    os.chmod(ro, 0o555)
    res = _run(["demo", "--set", f"artifacts={ro / 'artifacts'}", *[a for o in tiny for a in ("--set", o)]],
               cwd="/tmp", unprivileged=True)
    _assert_one_line_error(res, "not writable")


def test_missing_estimator_model_dir(tmp_path, out, tiny):
    res = _run(["demo", "--set", f"artifacts={out}", *[a for o in tiny for a in ("--set", o)],
                "--set", "estimator.backend=depth_anything", "--set", f"estimator.model_dir={tmp_path / 'no-such-da'}"])
    _assert_one_line_error(res, "no-such-da")
    assert _no_complete_stage(out)
