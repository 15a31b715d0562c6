import os
import socket
import sys
from pathlib import Path

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


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{env.get('PATH', '')}"})
    env.update(extra)
    return env


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)
