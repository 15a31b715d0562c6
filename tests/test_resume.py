"""Kill -9 a run at random moments; re-running the same command finishes with a bit-identical video."""

import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import BIN, ROOT, cli_env
from worldwarp.store import RunStore


def _cmd(root, tiny):
    return [str(BIN / "worldwarp"), "demo", "--run-id", "resume", "--set", f"artifacts={root}",
            *[a for o in tiny for a in ("--set", o)]]


def _video(path: Path):
    store = RunStore.open(path)
    assert store.status == "complete"
    return store.read_video()


def _completed_stages(path: Path) -> int:
    try:
        return sum(row.status == "complete" for row in RunStore.open(path).summary())
    except Exception:  # not created yet, or caught between writes: count as nothing done
        return 0


def _kill_after(proc: subprocess.Popen, path: Path, stages: int, jitter: float) -> bool:
    """True if it killed an unfinished run. Waits until ``stages`` stages are complete, then a random moment more (mid-stage or mid-write), then kill -9."""
    while _completed_stages(path) < stages:
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    time.sleep(jitter)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:  # a kill that lands after the run completed proves nothing
        return RunStore.open(path).status != "complete"
    except Exception:
        return True


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_video(tmp_path, tiny, finished_run):
    """The uninterrupted reference is the session's finished run: the same `worldwarp demo` at TINY (its run id and
    tracking.mlflow=false change no array), made once for the store tests too."""
    _kill_and_resume(tmp_path, tiny, finished_run)


@pytest.mark.slow
def test_killed_runs_resume_with_the_ttt3r_estimator(tmp_path, tiny):
    """Same with TTT3R (tiny stand-in, release-format checkpoint) estimating the history geometry."""
    from worldwarp.estimators.ttt3r.standin import build_tiny_ttt3r

    ckpt = build_tiny_ttt3r(tmp_path / "ttt3r")
    _kill_and_resume(tmp_path, [*tiny, "estimator.backend=ttt3r", f"estimator.model_dir={ckpt}",
                                "estimator.ttt3r_size=64"])


def _kill_and_resume(tmp_path, tiny, ref: Path | None = None):
    """``ref``: an uninterrupted run's store of the same settings; None: run one here."""
    root = tmp_path / "killed"
    if ref is None:
        subprocess.run(_cmd(tmp_path / "ref", tiny), check=True, env=cli_env(), cwd=ROOT, capture_output=True)
        ref = tmp_path / "ref" / "runs" / "resume.zarr"
    reference = _video(ref)
    total = len(RunStore.open(ref).summary())

    # kill points: once during start-up (before any stage), then after random numbers of completed stages
    rng = random.Random(1234)
    targets = [0, *sorted(rng.sample(range(1, total - 2), 3))]
    path = root / "runs" / "resume.zarr"
    kills = 0
    for stages in targets:
        proc = subprocess.Popen(_cmd(root, tiny), env=cli_env(), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        jitter = rng.uniform(2.0, 4.0) if stages == 0 else rng.uniform(0.0, 0.6)
        kills += _kill_after(proc, path, stages, jitter)
    assert kills >= 3, "runs finished before they could be killed; the test proves nothing"
    done = subprocess.run(_cmd(root, tiny), env=cli_env(), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = _video(path)
    assert resumed.shape == reference.shape
    assert np.array_equal(resumed, reference)
