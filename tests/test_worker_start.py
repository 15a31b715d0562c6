"""`worldwarp worker`: the GPU check at a worker's start-up, before it takes any run off the pool."""

import subprocess

import pytest

from conftest import BIN, ROOT, cli_env
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


def _health_only_api():
    """An HTTP server that answers the Prefect API's /health and nothing else: enough for the up-front check."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path.endswith("/health") else 404)
            self.end_headers()
            self.wfile.write(b"true")

        do_POST = do_GET

        def log_message(self, *_a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_cpu_worker_becomes_a_prefect_worker(tmp_path):
    """A CPU config needs no GPU and the API answers: the command hands over to `prefect worker start` (its own
    words show it was exec'd); the worker is stopped as soon as it speaks."""
    srv = _health_only_api()
    env = cli_env(PREFECT_API_URL=f"http://127.0.0.1:{srv.server_port}/api", PREFECT_HOME=str(tmp_path / "ph"))
    proc = subprocess.Popen([str(BIN / "worldwarp"), "worker", "--set", "device=cpu"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "process worker" in line.lower() or "Work pool" in line:  # prefect's own words
                break
    finally:
        proc.kill()
        proc.wait()
        srv.shutdown()
    out = "".join(seen)
    assert "worker: no GPU needed (CPU config); Prefect API http://127.0.0.1:" in out, out[-2000:]
    assert "Work pool 'worldwarp'" in out or "process worker" in out.lower(), out[-2000:]


def test_min_gpu_gib_is_validated():
    assert load_params(None, ["worker.min_gpu_gib=40"]).worker.min_gpu_gib == 40
    with pytest.raises(ConfigError, match="worker.min_gpu_gib"):
        load_params(None, ["worker.min_gpu_gib=-1"])
