"""One resolution of every --trajectory name, knobs a run does not use, and the checks made before chunk 0:
path bounds, a photo's depth choice, broken model files, what the store records. The CLI runs in-process
(typer's CliRunner); `run --dry-run` does everything a run does before its first stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import TINY
from flows.cli import app
from worldwarp.config import ConfigError, WorldWarpConfig, load_params
from worldwarp.config.applies import check_knobs
from worldwarp.geometry.cameras import CameraError
from worldwarp.geometry.names import resolve_trajectory

ROOT = Path(__file__).resolve().parents[1]
SIZE = [o for o in TINY if not o.startswith("trajectory.")]  # small, and no knob a movement would not use
TURN = re.compile(r"trajectory: (movements per chunk|movement|preset|file) (.+?): (\d+) frames, turns ([\d.]+) deg "
                  r".*travels ([\d.e+-]+)")


def cli(*args: str, size: bool = False):
    return CliRunner().invoke(app, [*args, *([a for o in SIZE for a in ("--set", o)] if size else [])])


def resolved(output: str) -> tuple[str, str, float, float]:
    """(kind, name, turn in degrees, travel) from the run log's trajectory line."""
    m = TURN.search(output)
    assert m, output
    return m[1], m[2], float(m[4]), float(m[5])


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("in") / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(p)
    return p


def _depth_folder(d: Path, broken: bool = False) -> Path:
    """A depth-model folder as save_pretrained leaves it (config, processor, weights). Preflight reads headers only,
    so one small tensor stands in for the weights; ``broken`` writes what a cut-off download leaves."""
    from safetensors.numpy import save_file

    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps({"model_type": "depth_anything"}))
    (d / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "DPTImageProcessor"}))
    save_file({"head.weight": np.ones((4, 4), np.float32)}, str(d / "model.safetensors"))
    if broken:
        data = (d / "model.safetensors").read_bytes()
        (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    return d


def test_names_follow_one_rule_with_collisions_case_and_aliases(tmp_path, monkeypatch):
    # a preset and a movement of the same name are two things, told apart by case
    assert (resolve_trajectory("orbit_left").kind, resolve_trajectory("ORBIT_LEFT").kind) == ("preset", "movement")
    assert resolve_trajectory("zoom_in").kind == "preset" and resolve_trajectory("ZOOM_IN").name == "ZOOM_IN"
    r = resolve_trajectory("DOLLY_IN; pan_right + TILT_UP")
    assert r.kind == "movements per chunk" and r.name == "DOLLY_IN; PAN_RIGHT + TILT_UP" and len(r.warnings) == 1
    legacy = resolve_trajectory("dolly_in")  # the old case-insensitive spelling: a deprecated alias
    assert legacy.name == "DOLLY_IN" and "deprecated" in legacy.warnings[0]
    assert resolve_trajectory("ORBIT_DONW").name == "ORBIT_DOWN"
    for bad, hint in [("Orbit_Left", "orbit_left (preset) or ORBIT_LEFT (movement)"), ("DOLY_IN", "DOLLY_IN"),
                      ("forward + DOLLY_IN", "is a preset")]:
        with pytest.raises(CameraError, match=re.escape(hint)):
            resolve_trajectory(bad)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sideways").write_text("x")  # a file is never found by a bare name: the form decides
    with pytest.raises(CameraError, match=r"\./sideways"):
        resolve_trajectory("sideways")
    assert resolve_trajectory("./forward").kind == "file"

    # the README's own example: the preset turns angle_deg; the movement refuses the knob, naming it
    ok = cli("run", "--trajectory", "orbit_left", "--set", "trajectory.angle_deg=90", "--dry-run", size=True)
    assert ok.exit_code == 0, ok.output
    assert resolved(ok.output)[:3] == ("preset", "orbit_left", 90.0)
    bad = cli("run", "--trajectory", "ORBIT_LEFT", "--set", "trajectory.angle_deg=90", "--dry-run", size=True)
    assert bad.exit_code == 2 and "trajectory.angle_deg is not used" in bad.output and "ORBIT_LEFT" in bad.output
    moved = cli("run", "--trajectory", "ORBIT_LEFT", "--dry-run", size=True)
    kind, name, turn, _ = resolved(moved.output)
    frames = load_params(None, SIZE).chunk.total_frames
    assert (kind, name) == ("movement", "ORBIT_LEFT") and turn == pytest.approx(0.1 * (frames - 1), rel=0.02)

    # a params file's movements cannot shadow a preset chosen with --trajectory
    p = tmp_path / "p.yaml"
    p.write_text("trajectory:\n  movements: [DOLLY_IN]\n")
    chosen = cli("run", "--params", str(p), "--trajectory", "pan_left", "--dry-run", size=True)
    assert resolved(chosen.output)[:3] == ("preset", "pan_left", 60.0)

    # old params keep loading: params.yaml's garden_orbit experiment is the 40-degree orbit preset
    base = load_params(ROOT / "params.yaml")
    exp = load_params(ROOT / "params.yaml", [*base.experiments.common, *base.experiments.runs["garden_orbit"]])
    assert (exp.trajectory.preset, exp.trajectory.angle_deg, exp.trajectory.movements) == ("orbit_left", 40.0, None)


def test_unused_knob_is_an_error_from_set_and_a_warning_from_a_params_file(tmp_path):
    # the rule comes from the declarations: every declared knob, set where the default config does not use it
    cfg = WorldWarpConfig()
    refused = 0
    for section, model in cfg:
        for knob, when in getattr(type(model), "APPLIES", {}).items():
            override = f"{section}.{knob}={json.dumps(getattr(model, knob))}"
            if when.test(cfg):
                assert check_knobs(cfg, [override]) == []
            else:
                refused += 1
                with pytest.raises(ConfigError, match=re.escape(f"{section}.{knob} is not used")):
                    check_knobs(cfg, [override])
    assert refused >= 40  # estimator (ground truth), ST-Diff (classical), captioner, trajectory, mask knobs

    for knob in ("estimator.ttt3r_size=256", "diffusion.steps=20", "trajectory.zoom=3"):
        res = cli("run", "--set", knob, "--dry-run", size=True)
        assert res.exit_code == 2 and f"{knob.split('=')[0]} is not used" in res.output, res.output
    p = tmp_path / "params.yaml"
    p.write_text("estimator:\n  ttt3r_size: 256\n  batch_size: 4\ntrajectory:\n  zoom: 3\n")
    res = cli("run", "--params", str(p), "--dry-run", size=True)
    warned = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert res.exit_code == 0, res.output
    # batch_size: 4 is its default (a file restating defaults says nothing); the other two are reported
    assert len(warned) == 2 and "estimator.ttt3r_size" in warned[0] and "trajectory.zoom" in warned[1]


def test_paths_a_run_cannot_follow_are_refused(tmp_path):
    from worldwarp.geometry.trajectory import preset_trajectory
    from worldwarp.geometry.cameras import intrinsics_from_fov

    K, w2c = preset_trajectory("pan_right", 9, np.eye(4), intrinsics_from_fov(96, 64, 60), angle_deg=20)
    good, huge = tmp_path / "good.npz", tmp_path / "huge.npz"
    t = w2c[:, :3, 3].numpy().copy()
    t[:, 0] += np.linspace(0, 0.1, 9)
    np.savez(good, K=K.numpy(), R=w2c[:, :3, :3].numpy(), t=t, width=96, height=64)
    np.savez(huge, K=K.numpy(), R=w2c[:, :3, :3].numpy(), t=t * 1e30, width=96, height=64)
    sizing = [a for o in [*TINY, "chunk.count=1"] if not o.startswith("trajectory.") for a in ("--set", o)]  # 9 frames
    res = cli("run", "--trajectory", str(good), *sizing, "--dry-run")
    kind, _, turn, travel = resolved(res.output)
    assert res.exit_code == 0 and kind == "file" and turn == pytest.approx(20, abs=0.01) and travel > 0.09
    res = cli("run", "--trajectory", str(huge), *sizing, "--dry-run")
    assert res.exit_code == 2 and "in one frame" in res.output and "depth" in res.output, res.output
    res = cli("run", "--trajectory", "pan_right", "--set", "trajectory.angle_deg=3600", *sizing, "--dry-run")
    assert res.exit_code == 2 and "degrees in one frame" in res.output, res.output
    res = cli("run", "--set", "trajectory.distance=1e4", *sizing, "--dry-run")
    assert res.exit_code == 2 and "moves" in res.output


def test_a_photo_without_a_depth_choice_is_refused(photo):
    res = cli("run", "--image", str(photo), "--dry-run", size=True)
    assert res.exit_code == 2 and "scene.depth_estimator=constant" in res.output and "estimator.backend" in res.output
    assert len(res.output.strip().splitlines()) == 1
    said = cli("run", "--image", str(photo), "--set", "scene.depth_estimator=constant", "--dry-run", size=True)
    assert said.exit_code == 0, said.output


def test_a_broken_estimator_file_is_refused_before_any_stage(tmp_path):
    model = _depth_folder(tmp_path / "da", broken=True)
    art = tmp_path / "art"
    res = cli("run", "--run-id", "r", "--set", f"artifacts={art}", "--set", "tracking.mlflow=false",
              "--set", "estimator.backend=depth_anything", "--set", f"estimator.model_dir={model}",
              *[a for o in TINY for a in ("--set", o)])
    assert res.exit_code == 2 and "model.safetensors" in res.output, res.output
    assert not (art / "runs" / "r.zarr").exists()  # no store, so no chunk group: nothing was computed


def test_store_and_evaluation_record_the_movements_that_ran(tmp_path):
    from stages.evaluate import _trajectory_meta
    from stages.runner import open_run

    cfg = load_params(None, [*TINY, f"artifacts={tmp_path}", *resolve_trajectory("DOLLY_IN; PAN_LEFT").overrides])
    store, _ = open_run(cfg, "moves")
    rec = store.attrs["trajectory"]
    assert (rec["kind"], rec["name"], rec["frames"]) == ("movements per chunk", "DOLLY_IN; PAN_LEFT", 21)
    assert rec["turn_deg"] == pytest.approx(5.0 * (cfg.chunk.count - 1), rel=0.05)  # PAN_LEFT: 5 deg per chunk
    assert _trajectory_meta(store, cfg) == {"trajectory": "DOLLY_IN; PAN_LEFT", "trajectory_kind": "movements per chunk"}
    store._update(trajectory=None)  # a store written before the record: resolved from its params, not "forward"
    assert _trajectory_meta(store, cfg)["trajectory"] == "DOLLY_IN; PAN_LEFT"


# ---- the README's examples, run as written (a stand-in for each file or model folder they name) --------------

def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.startswith("    worldwarp ")]
    return [ln.split("   #")[0].strip() for ln in lines if "--trajectory " in ln or "trajectory." in ln]


def test_readme_examples_follow_the_cameras_they_promise(tmp_path, photo, monkeypatch):
    import shlex

    from worldwarp.geometry.trajectory import preset_trajectory
    from worldwarp.geometry.cameras import intrinsics_from_fov

    frames = load_params(ROOT / "params.yaml").chunk.total_frames
    K, w2c = preset_trajectory("pan_left", frames, np.eye(4), intrinsics_from_fov(720, 480, 60), angle_deg=30)
    np.savez(tmp_path / "cameras.npz", K=K.numpy(), R=w2c[:, :3, :3].numpy(), t=w2c[:, :3, 3].numpy(), width=720,
             height=480)
    model = _depth_folder(tmp_path / "weights" / "depth")
    swap = {"photo.jpg": str(photo), "cameras.npz": str(tmp_path / "cameras.npz"), "traj.png": str(tmp_path / "t.png")}
    monkeypatch.chdir(ROOT)  # params.yaml as the examples name it
    commands = _readme_commands()
    assert len(commands) >= 7, commands
    seen = {}
    for line in commands:
        args = [swap.get(a, a) for a in shlex.split(line)[1:]]
        args = [re.sub(r"~/weights/\S+", str(model), a) for a in args]
        if args[0] == "run":
            args.append("--dry-run")
        res = cli(*args)
        assert res.exit_code == 0, f"{line}\n{res.output}"
        seen[line] = resolved(res.output)
    promised = {  # what the README's text says each does
        "orbit_left": ("preset", "orbit_left", 90.0, None),  # turns trajectory.angle_deg over the run
        "cameras.npz": ("file", None, 30.0, None),  # the file's own path (a 30 degree pan here)
        '"DOLLY_IN + PAN_RIGHT"': ("movement", "DOLLY_IN + PAN_RIGHT", 15.0, 0.008),  # 5 deg a chunk, 0.008 a frame
        '"TRUCK_RIGHT + TILT_UP"': ("movement", "TRUCK_RIGHT + TILT_UP", 15.0, 0.004),
        '"DOLLY_IN; ORBIT_LEFT"': ("movements per chunk", "DOLLY_IN; ORBIT_LEFT", None, None),
        "PAN_LEFT + TILT_UP": ("movements per chunk", "DOLLY_IN; PAN_LEFT + TILT_UP; ORBIT_RIGHT", None, None),
    }
    for line, (kind, name, turn, travel) in seen.items():
        key = next(k for k in promised if k in line)
        want = promised[key]
        assert kind == want[0] and (want[1] is None or name == want[1]), line
        if want[2] is not None:
            assert turn == pytest.approx(want[2], rel=0.03), line
        if want[3] is not None:
            assert travel == pytest.approx(want[3] * (frames - 1), rel=0.03), line
