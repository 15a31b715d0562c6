"""Issue 25, items 3, 4, 6, 7: one home for the checks (flows/checks.py over worldwarp/checks), errors by kind
(exit 2 / 1 / 130), strict files, services checked up front, experiments' --set, aggregate, the threads knob.

The real CLI in-process (typer's CliRunner) except where the exit code of a real process or a signal is the point."""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import BIN, ROOT, cli_env, free_port
from flows.cli import app

SMALL = ["resolution.height=32", "resolution.width=48", "chunk.frames=5", "chunk.history=2", "chunk.count=1",
         "splat.steps=2", "trajectory.distance=0.3", "diffusion.backend=classical", "tracking.mlflow=false"]


def _sets(items: list[str]) -> list[str]:
    return [a for o in items for a in ("--set", o)]


def _refused(res, *fragments: str) -> str:
    """Exit 2 and exactly one line, ``error: ...``, naming every fragment; no traceback."""
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output[-2000:]
    assert "Traceback" not in res.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


# ---- (6) one home for the checks ---------------------------------------------------------------------------------

def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (relative imports resolved)."""
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name == "__init__.py":
        pkg += ".__init__"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[:-node.level] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def test_no_two_modules_import_each_other_and_front_ends_share_one_checks_module():
    files = [p for d in ("flows", "stages", "worldwarp") for p in (ROOT / d).rglob("*.py")]
    mods = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in files}
    deps = {m: {i for i in _imports(p) if i in mods and i != m} for m, p in mods.items()}
    circles = sorted({tuple(sorted((a, b))) for a in deps for b in deps[a] if a in deps.get(b, set())})
    # a package's __init__ re-exporting its own submodules is not a circle between two modules
    circles = [c for c in circles if not (c[1].startswith(c[0] + ".") or c[0].startswith(c[1] + "."))]
    assert circles == [], circles
    assert ("worldwarp.store.run" in deps["worldwarp.store.refs"]) is False
    for front in ("flows.studio.session", "flows.studio.app", "flows.longshot", "flows.batch"):
        assert "flows.cli" not in deps[front], front
        assert "flows.checks" in deps[front], front
    private = [f for m, p in mods.items() for f in ("_preflight", "_trajectory_override", "_known_errors")
               if m != "flows.cli" and f in p.read_text()]
    assert private == []


def test_studio_and_flow_refuse_what_the_cli_refuses_before_any_store(tmp_path):
    """The same preflight behind the CLI, the Studio's Generate and the longshot flow (called as a function:
    the check runs before the flow touches Prefect's API)."""
    from flows.longshot import worldwarp
    from flows.studio import session
    from worldwarp.config import load_params

    bad = [*SMALL, f"artifacts={tmp_path / 'art'}", "estimator.backend=depth_anything",
           f"estimator.model_dir={tmp_path / 'no-such-da'}"]
    cli = _refused(CliRunner().invoke(app, ["demo", *_sets(bad)]), "no-such-da")
    with pytest.raises(Exception) as studio:
        next(session.generate(load_params(None, bad), tmp_path / "art" / "runs" / "s.zarr", 1, track=False))
    with pytest.raises(Exception) as flow:
        worldwarp.fn(base="demo", overrides=bad)
    assert str(studio.value).splitlines()[0] == str(flow.value).splitlines()[0] == cli.removeprefix("error: ")
    assert not (tmp_path / "art" / "runs").exists()


def test_flow_parameter_profile_is_a_deprecated_alias_of_base():
    from flows.batch import batch
    from flows.longshot import resolve_base
    from worldwarp.config import ConfigError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_base(None, "default") == "default"
    assert any("profile=default is deprecated" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # base alone: no warning
        assert resolve_base("default", None) == "default" and resolve_base(None, None) == "demo"
    with pytest.raises(ConfigError, match="base=demo and profile=default disagree"):
        batch.fn(base="demo", profile="default")  # refused before anything is submitted


# ---- (4) errors by kind ------------------------------------------------------------------------------------------

def test_files_are_read_strictly_and_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("chunk:\n  count: 2\nprompt:\n  text: caf\xe9\n".encode("latin-1"))
    _refused(CliRunner().invoke(app, ["run", "--params", str(latin)]), str(latin), "not UTF-8", "line 4")
    twice = tmp_path / "twice.yaml"
    twice.write_text("chunk:\n  count: 2\nseed: 1\nchunk:\n  count: 3\n")
    _refused(CliRunner().invoke(app, ["run", "--params", str(twice)]), str(twice), "'chunk' given twice", "line 4")
    ev = tmp_path / "eval"
    (ev / "a").mkdir(parents=True)
    (ev / "a" / "metrics.json").write_text('{"psnr": 20.0 "ssim": 0.5}')
    _refused(CliRunner().invoke(app, ["aggregate", str(ev), "--out", str(tmp_path / "res")]),
             str(ev / "a" / "metrics.json"), "line 1")
    assert not (tmp_path / "res").exists()
    (ev / "a" / "metrics.json").write_text('{"accuracy": 0.9}')  # JSON, but not an evaluation report
    _refused(CliRunner().invoke(app, ["aggregate", str(ev), "--out", str(tmp_path / "res")]),
             str(ev / "a" / "metrics.json"), "not a `worldwarp evaluate` report")
    assert not (tmp_path / "res").exists()
    _refused(CliRunner().invoke(app, ["preview-trajectory", "--out", str(tmp_path / "t.bmpx")]), "t.bmpx", ".png")


def test_services_are_checked_up_front_with_one_line(tmp_path, monkeypatch):
    """An unreachable MLflow server and an unreachable S3 endpoint: exit 2, one line, before any store."""
    monkeypatch.chdir(tmp_path)
    art = tmp_path / "art"
    t0 = time.perf_counter()
    mlflow = [*SMALL, "tracking.mlflow=true", f"tracking.uri=http://127.0.0.1:{free_port()}", f"artifacts={art}"]
    _refused(CliRunner().invoke(app, ["demo", *_sets(mlflow)]), "MLflow tracking server", "tracking.uri")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _refused(CliRunner().invoke(app, ["demo", *_sets([*SMALL, "artifacts=s3://bkt/ww"])]), "s3://bkt/ww",
             "AWS_ENDPOINT_URL")
    assert time.perf_counter() - t0 < 30
    assert not (art / "runs").exists() and not (tmp_path / "cache" / "s3" / "bkt" / "ww" / "runs").exists()


def test_object_storage_without_credentials(tmp_path, monkeypatch):
    from moto_s3 import moto_s3

    with moto_s3("bkt") as env:
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_ENDPOINT_URL", env["AWS_ENDPOINT_URL"])
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        res = CliRunner().invoke(app, ["verify", "s3://bkt/ww/runs/r.zarr"])
    _refused(res, "s3://bkt/ww", "credentials", "AWS_ACCESS_KEY_ID")


def test_worker_and_serve_without_a_prefect_api_exit_2_in_one_line(tmp_path, monkeypatch):
    """No hidden temporary server, no traceback: one line (a reachable API: tests/test_worker_start.py); `demo
    --prefect` too, without the run log's lines before it."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))  # no profile that sets one either
    demo = ["demo", "--prefect", "--set", "tracking.mlflow=false", "--set", f"artifacts={tmp_path / 'art'}"]
    for cmd in (["worker", "--set", "device=cpu"], ["serve"], demo):
        line = _refused(CliRunner().invoke(app, cmd), "no Prefect API configured", "PREFECT_API_URL=")
        assert "temporary" not in line


def _sigint_state(pid: int) -> str:
    """Whether SIGINT is ignored, blocked or caught in a process (/proc/PID/status bit masks; SIGINT is bit 1)."""
    rows = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return ", ".join(f"{k} {bool(int(rows[k], 16) & 2)}" for k in ("SigIgn", "SigBlk", "SigCgt") if k in rows)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped exception, on purpose
def test_a_ctrl_c_lost_in_a_finaliser_still_ends_the_command_interrupted():
    """Python drops an exception raised while a finaliser runs ("Exception ignored in ..."): a Ctrl-C landing there
    must still end the command with 130, not let it finish and say done."""
    import os

    import typer

    from flows.checks import guarded

    class Finalised:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the handler runs in here: its KeyboardInterrupt is printed and dropped

    def body() -> str:
        Finalised()  # made and collected at once
        return "done"

    # as in a terminal's foreground command: Python's own handler, SIGINT not blocked, whatever the test runner's
    # worker left in place (an xdist worker or an earlier test may ignore or catch it)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        with pytest.raises(typer.Exit) as e:
            guarded(body)()
        assert e.value.exit_code == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the command's handler is gone again
        assert guarded(lambda: "done")() == "done"  # and the next command in this process is not taken as interrupted
    finally:
        signal.signal(signal.SIGINT, before)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def test_ctrl_c_exits_130_with_the_resume_command(tmp_path, tiny):
    """SIGINT mid-run: exit 130, the resume command on stderr; also `demo --trajectory` and the threads log line."""
    art = tmp_path / "art"
    cmd = [str(BIN / "worldwarp"), "demo", "--trajectory", "DOLLY_IN + PAN_RIGHT", "--run-id", "intr",
           *_sets([*(o for o in tiny if not o.startswith("trajectory.distance")),  # a movement path uses no distance
                   "tracking.mlflow=false", "threads=1", f"artifacts={art}"])]
    # as a terminal starts a foreground job: Ctrl-C neither ignored nor blocked, whatever the test runner's own
    # disposition (a child inherits SIG_IGN and the signal mask through exec)
    as_terminal = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); os.execv(sys.argv[1], sys.argv[1:])"]
    proc = subprocess.Popen([*as_terminal, *cmd], env=cli_env(), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    seen, sigint = [], ""
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("run: "):  # the store is open and its lease taken: chunk 0 starts now
            sigint = _sigint_state(proc.pid)
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, f"child's SIGINT: {sigint}\n" + "".join(seen) + rest
    store = art / "runs" / "intr.zarr"
    assert f"interrupted; continue with: worldwarp resume {store}" in rest
    assert "Traceback" not in rest and seen[-1].strip() == "run: 1 CPU thread (threads knob)"
    from worldwarp.store import RunStore

    assert "PAN_RIGHT" in json.dumps(RunStore.open(store).params["trajectory"]["movements"])


# ---- (3) experiments and aggregate -------------------------------------------------------------------------------

def test_experiment_set_wins_over_common_and_the_experiments_entries(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"experiments": {"common": ["resolution.height=64", "seed=3"],
                                                  "runs": {"e1": ["prompt.text=hello", "seed=4"]}},
                                  "artifacts": str(tmp_path / "art")}))
    res = CliRunner().invoke(app, ["experiment", "e1", "--params", str(params),
                                   *_sets([*SMALL, "resolution.height=48", "seed=5"])])
    assert res.exit_code == 0, res.output[-2000:]
    assert "--set seed=5 replaces the experiment's seed=4" in res.output
    from worldwarp.store import RunStore

    p = RunStore.open(tmp_path / "art" / "runs" / "e1.zarr").params
    # the user's --set wins over common (height 64) and the entry (seed 4); the entry's other knobs still apply
    assert (p["resolution"]["height"], p["seed"], p["prompt"]["text"]) == (48, 5, "hello")


def test_aggregate_of_experiments_of_different_lengths(tmp_path):
    ev = tmp_path / "eval"
    for name, n in (("long", 9), ("short", 5)):  # the shorter one sorts last: its curve is padded
        (ev / name).mkdir(parents=True)
        (ev / name / "metrics.json").write_text(json.dumps({"psnr": 20.0 + n, "frames": n}))
        rows = "".join(f"{i},{20 + i}\n" for i in range(n))
        (ev / name / "per_frame.csv").write_text("frame,psnr\n" + rows)
    out = tmp_path / "res"
    res = CliRunner().invoke(app, ["aggregate", str(ev), "--out", str(out)])
    assert res.exit_code == 0, res.output[-2000:]
    assert json.loads((out / "summary.json").read_text()) == {"long": {"psnr": 29.0, "frames": 9},
                                                              "short": {"psnr": 25.0, "frames": 5}}
    assert (out / "psnr_vs_frame.png").stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "res"]  # no temporary folder left


# ---- (7) threads -------------------------------------------------------------------------------------------------

def test_threads_is_applied_honours_omp_and_leaves_keys_and_run_id_unchanged(monkeypatch):
    import torch

    from stages.common import apply_threads
    from stages.keys import all_keys
    from stages.runner import NOT_RUN_PARAMS
    from worldwarp.config import load_params

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert apply_threads(load_params(None, [])) == "2 CPU threads (OMP_NUM_THREADS)"
        assert torch.get_num_threads() == 2
        assert apply_threads(load_params(None, ["threads=1"])) == "1 CPU thread (threads knob)"
        assert torch.get_num_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert apply_threads(load_params(None, [])) == "1 CPU thread (default)"
    finally:
        torch.set_num_threads(before)
    one, three = (load_params(None, [*SMALL, "chunk.count=2", f"threads={n}"]) for n in (1, 3))
    assert one.threads != three.threads
    assert all_keys(one, "digest") == all_keys(three, "digest")
    assert one.model_dump(exclude=NOT_RUN_PARAMS) == three.model_dump(exclude=NOT_RUN_PARAMS)  # the run id's input


def test_render_budget_is_an_execution_setting_outside_keys_and_run_ids():
    from stages.keys import all_keys
    from stages.runner import run_params
    from worldwarp.config import load_params

    small, big = (load_params(None, [*SMALL, "chunk.count=2", f"render_budget={n}"]) for n in (1, 10**9))
    assert all_keys(small, "digest") == all_keys(big, "digest")
    assert run_params(small) == run_params(big) and "render_budget" not in run_params(small)
    with pytest.raises(Exception, match="render_budget"):
        load_params(None, ["render_budget=0"])
