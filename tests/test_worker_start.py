"""`worldwarp worker`: the GPU check at a worker's start-up, before it takes any run off the pool."""

import subprocess

import pytest

from conftest import BIN, ROOT, cli_env, free_port
from worldwarp.config import ConfigError, load_params

torch = pytest.importorskip("torch")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("knob", ["device=cuda", "diffusion.backend=stdiff"])
def test_worker_without_the_gpu_the_config_needs_is_refused(knob):
    done = subprocess.run([str(BIN / "worldwarp"), "worker", "--set", knob], env=cli_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: this worker has no CUDA GPU, and the configured model needs one with at least 16 GiB (worker.min_gpu_gib)"]


def test_cpu_worker_becomes_a_prefect_worker():
    """A CPU config needs no GPU: the command hands over to `prefect worker start` (here without a server)."""
    env = cli_env(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api")
    done = subprocess.run([str(BIN / "worldwarp"), "worker", "--set", "device=cpu"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "worker: no GPU needed (CPU config)" in done.stderr
    assert "Unable to reach the Prefect API" in done.stdout + done.stderr  # prefect's own words: it was exec'd


def test_min_gpu_gib_is_validated():
    assert load_params(None, ["worker.min_gpu_gib=40"]).worker.min_gpu_gib == 40
    with pytest.raises(ConfigError, match="worker.min_gpu_gib"):
        load_params(None, ["worker.min_gpu_gib=-1"])
