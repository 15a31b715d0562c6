"""worldwarp/batch on a real Prefect server: prefect.yaml deployed to a process work pool, two workers, three
CPU-sized longshots whose stores live in a local S3 (moto's server) or on local disk."""

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import BIN, ROOT, TINY, cli_env, free_port
from moto_s3 import moto_s3
from test_prefect_deployment import _wait_healthy
from worldwarp.store import RunStore
from worldwarp.store.remote import RemoteStore

ITEMS = {"a": ["scene.name=room"], "b": ["scene.name=garden"], "c": ["scene.name=room", "trajectory.preset=orbit_left"]}
SIZE = [*TINY, "chunk.count=2"]


def _params(tmp_path: Path) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"experiments": {"common": SIZE, "runs": ITEMS}}))
    return p


class Cluster:
    """A Prefect server, the work pool `worldwarp`, prefect.yaml's deployments, and two longshot workers."""

    def __init__(self, tmp_path: Path, extra_env: dict[str, str]):
        port = free_port()
        self.api = f"http://127.0.0.1:{port}/api"
        self.env = cli_env(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=self.api,
                           PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="1",
                           PREFECT_LOGGING_LEVEL="INFO", **extra_env)
        self.tmp = tmp_path
        self.procs: list[subprocess.Popen] = []
        self.server = self._start("server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                             "--port", str(port)])
        _wait_healthy(self.api, self.server)
        self._prefect("work-pool", "create", "worldwarp", "--type", "process")
        self._prefect("--no-prompt", "deploy", "--all")
        self.workers = [self._start(f"worker-{i}", [str(BIN / "prefect"), "worker", "start", "--pool", "worldwarp",
                                                    "--work-queue", "longshot", "--limit", "1", "--name", f"w{i}"])
                        for i in (1, 2)]

    def _start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("w")
        p = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def _prefect(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "prefect"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    def batch(self, params: Path, overrides: list[str], name: str) -> subprocess.CompletedProcess:
        """The batch flow, run here (it only submits and waits); its items run on the workers."""
        code = ("import json, sys; from flows.batch import batch; "
                "r = batch(profile='default', params_file=sys.argv[1], overrides=json.loads(sys.argv[2]), name=sys.argv[3]); "
                "print('SUMMARY', json.dumps(r))")
        return subprocess.run([str(BIN / "python"), "-c", code, str(params), json.dumps(overrides), name],
                              env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=900)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def _summary(out: subprocess.CompletedProcess) -> dict:
    line = next(line for line in out.stdout.splitlines() if line.startswith("SUMMARY "))
    return json.loads(line[len("SUMMARY "):])


def _flow_run_ids(api: str, names: list[str]) -> dict[str, str]:
    import urllib.request

    body = json.dumps({"flow_runs": {"name": {"any_": names}}}).encode()
    req = urllib.request.Request(f"{api}/flow_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return {fr["name"]: fr["id"] for fr in json.load(r)}


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("where", ["s3", "local"])
def test_batch_of_three_over_two_workers(tmp_path, where, monkeypatch):
    params = _params(tmp_path)
    art = tmp_path / "artifacts"
    with moto_s3("batch") as s3:
        for k, v in s3.items():
            monkeypatch.setenv(k, v)
        remote = ["remote.url=s3://batch/shared"] if where == "s3" else []
        overrides = [f"artifacts={art}", "batch.experiments=[all]", "batch.poll_s=1", *remote]
        cluster = Cluster(tmp_path, s3)
        try:
            out = cluster.batch(params, overrides, "b1")
            assert out.returncode == 0, out.stderr[-3000:] + cluster.log("worker-1")[-2000:]
            items = {r["name"]: r for r in _summary(out)["items"]}
            assert {n: r["state"] for n, r in items.items()} == {n: "Completed" for n in ITEMS}
            assert all(r["frames"] == 9 + 6 for r in items.values())
            # spread: each worker submitted at least one of the three flow runs
            ids = _flow_run_ids(cluster.api, [f"b1-{n}" for n in ITEMS])
            assert len(ids) == 3
            for w in ("worker-1", "worker-2"):
                assert any(i in cluster.log(w) for i in ids.values()), f"{w} ran none of the batch"
            assert (art / "batches" / "b1" / "summary.csv").read_text().count("Completed") == 3
            assert (art / "batches" / "b1" / "summary.png").stat().st_size > 0

            for n in ITEMS:
                if where == "s3":
                    RemoteStore(f"s3://batch/shared/runs/{n}.zarr").pull(tmp_path / "copies" / f"{n}.zarr")
                    store = RunStore.open(tmp_path / "copies" / f"{n}.zarr")
                else:
                    store = RunStore.open(art / "runs" / f"{n}.zarr")
                assert store.status == "complete" and store.verify().damaged == {}
                assert store.read_video().shape == (15, 64, 96, 3) and np.std(store.read_video()) > 0.02

            # a rerun skips every finished item: nothing is submitted
            again = cluster.batch(params, overrides, "b2")
            assert again.returncode == 0, again.stderr[-3000:]
            assert {r["state"] for r in _summary(again)["items"]} == {"skipped"}
            assert _flow_run_ids(cluster.api, [f"b2-{n}" for n in ITEMS]) == {}
        finally:
            cluster.stop()
