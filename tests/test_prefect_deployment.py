"""A real Prefect server on 127.0.0.1, the deployment served, triggered by the real `prefect` CLI."""

import json
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, cli_env, free_port, wait_http
from worldwarp.store import RunStore


def _wait_deployment(api: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the API knows worldwarp/longshot (an HTTP read, not a `prefect deployment ls` process per look)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`worldwarp serve` exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{api}/deployments/name/worldwarp/longshot", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:  # 404 until it is registered
            pass
        time.sleep(0.5)
    raise TimeoutError("deployment worldwarp/longshot never appeared")


def _flow_run_id(stdout: str) -> str:
    return re.search(r"UUID: ([0-9a-f-]{36})", stdout).group(1)


def _task_states(api: str, flow_run_id: str) -> dict[str, str]:
    body = json.dumps({"flow_runs": {"id": {"any_": [flow_run_id]}}}).encode()
    req = urllib.request.Request(f"{api}/task_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return {t["name"]: t["state"]["name"] for t in json.load(r)}


@pytest.mark.slow
@pytest.mark.server
def test_deployment_run_via_prefect_cli(tmp_path, tiny):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = cli_env(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=api,
                  PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_RUNNER_POLL_FREQUENCY="1",
                  PREFECT_LOGGING_LEVEL="WARNING")
    work = tmp_path / "work"
    work.mkdir()
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    served = None
    try:
        wait_http(f"{api}/health", server)
        log = (tmp_path / "serve.log").open("w")
        served = subprocess.Popen([str(BIN / "worldwarp"), "serve"], env=env, cwd=work,
                                  stdout=log, stderr=subprocess.STDOUT)
        _wait_deployment(api, served)
        # 5 3DGS steps, not TINY's 20: served, triggered, completed and cached do not depend on the fit's quality
        overrides = json.dumps([*tiny, "chunk.count=2", "splat.steps=5"])
        trigger = [str(BIN / "prefect"), "deployment", "run", "worldwarp/longshot", "--watch",
                   "--param", f"overrides={overrides}", "--param", "run_id=deployed"]
        run = subprocess.run(trigger, env=env, cwd=work, capture_output=True, text=True, timeout=600)
        served_log = (tmp_path / "serve.log").read_text()[-4000:]
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:] + served_log
        assert "Completed" in run.stdout
        stores = list((work / "artifacts" / "runs").glob("*.zarr"))
        assert len(stores) == 1
        store = RunStore.open(stores[0])
        assert store.status == "complete"
        video = store.read_video()
        assert video.shape == (9 + 6, 64, 96, 3) and video.std() > 0.02
        assert set(_task_states(api, _flow_run_id(run.stdout)).values()) == {"Completed"}

        # the same run again: every stage task is served from the cache keyed on its content key
        again = subprocess.run(trigger, env=env, cwd=work, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout[-2000:]
        states = _task_states(api, _flow_run_id(again.stdout))
        assert len(states) == 2 * 5 and set(states.values()) == {"Cached"}, states
    finally:
        for p in (served, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
