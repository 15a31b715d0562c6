import os
import random
import shutil
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
    # the paper's cache, the cheapest: world (the default) costs a quarter more per run and has tests of its own
    # (test_memory.py, the demo's and the CLI's)
    "memory.mode=fresh",
]


# Ports for the servers tests start. Under pytest-xdist (`make test` runs two workers) each worker draws from its own
# slice of 20000-32767, below the kernel's ephemeral range (32768+, /proc/sys/net/ipv4/ip_local_port_range): a port
# handed out here and not yet bound by its server (seconds, while a Prefect server starts) can then be neither handed
# to another worker nor taken by an outgoing connection or a bind to port 0.
PORTS = range(20000, 32768)
PORTS_PER_WORKER = 1000
_RNG = random.SystemRandom()  # not the global generator, which a test may have seeded


def _worker() -> int:
    """This xdist worker's number (gw3 -> 3); 0 without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


def free_port() -> int:
    start = PORTS.start + (_worker() * PORTS_PER_WORKER) % len(PORTS)
    for port in _RNG.sample(range(start, min(start + PORTS_PER_WORKER, PORTS.stop)), 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # taken (or lingering in TIME_WAIT): another
                continue
            return port
    with socket.socket() as s:  # the whole slice busy: any free port
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
    tests copy it (never change it) to damage, refuse and heal, and compare their copies with it. Under pytest-xdist
    the workers share one: the first to need it makes it in the session's temp folder, under a file lock."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _make_finished_run(tmp_path_factory.mktemp("finished"))
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent / "finished"  # the session's folder, above every worker's own
    with FileLock(f"{root}.lock"):
        done = root / "made"
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker that failed to make it left a part
            root.mkdir()
            _make_finished_run(root)
            done.touch()
    return root / "runs" / "ref.zarr"


def _make_finished_run(root: Path) -> Path:
    args = ["demo", "--run-id", "ref", "--set", f"artifacts={root}", "--set", "tracking.mlflow=false",
            *[a for o in TINY for a in ("--set", o)]]
    res = subprocess.run([str(BIN / "worldwarp"), *args], env=cli_env(), cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "runs" / "ref.zarr"


def pytest_collection_modifyitems(config, items):
    """Test files holding a slow test first, the others after, each group in its usual order. With two xdist workers
    that take whole files (`make test`: --dist loadfile --no-loadscope-reorder), the long files (dvc, the Prefect
    batch, determinism: minutes each) start early and the quick ones fill in at the end, instead of a long file
    starting last and running alone."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: same order within each group
