import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# A few seconds per chunk on the 2-core CI machine: enough to exercise every stage for real.
TINY = [
    "resolution.height=64", "resolution.width=96", "chunk.frames=9", "chunk.history=3", "chunk.count=3",
    "splat.steps=20", "trajectory.distance=0.6", "trajectory.fov_deg=60.0", "diffusion.backend=classical",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Until ``url`` answers 200; fails at once if the server process ``proc`` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{env.get('PATH', '')}"})
    env.update(extra)
    return env


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)


def assert_same_run(a, b) -> None:
    """Two run stores hold the same stage groups, the same arrays (NaN equal to NaN) and the same video."""
    groups = [(k, s) for k in a.chunks() for s in a.stages(k)]
    assert groups == [(k, s) for k in b.chunks() for s in b.stages(k)]
    for k, stage in groups:
        x, y = a.read_stage(k, stage), b.read_stage(k, stage)
        assert x.keys() == y.keys()
        for name in x:
            np.testing.assert_array_equal(x[name], y[name], err_msg=f"chunk {k} {stage} {name}")
    np.testing.assert_array_equal(a.read_video(), b.read_video())


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One small finished run (TINY, the classical filler) per test session, made by the real CLI: the store
    tests copy it (never change it) to damage, refuse and heal, and compare their copies with it."""
    root = tmp_path_factory.mktemp("finished")
    args = ["demo", "--run-id", "ref", "--set", f"artifacts={root}", "--set", "tracking.mlflow=false",
            *[a for o in TINY for a in ("--set", o)]]
    res = subprocess.run([str(BIN / "worldwarp"), *args], env=cli_env(), cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "runs" / "ref.zarr"
