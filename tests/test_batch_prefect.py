"""worldwarp/batch on a real Prefect server: prefect.yaml deployed to a process work pool, two workers, three
CPU-sized longshots whose stores live in a local S3 (moto's server) or on local disk."""

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import BIN, ROOT, TINY, cli_env, free_port, wait_http
from moto_s3 import moto_s3
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
        wait_http(f"{self.api}/health", self.server)
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


def _check_batch(cluster: "Cluster", out: subprocess.CompletedProcess, art: Path, name: str, stores: dict) -> None:
    """Every item Completed, spread over both workers, the summary written, every store complete."""
    assert out.returncode == 0, out.stderr[-3000:] + cluster.log("worker-1")[-2000:]
    items = {r["name"]: r for r in _summary(out)["items"]}
    assert {n: r["state"] for n, r in items.items()} == {n: "Completed" for n in ITEMS}
    assert all(r["frames"] == 9 + 6 for r in items.values())
    ids = _flow_run_ids(cluster.api, [f"{name}-{n}" for n in ITEMS])
    assert len(ids) == 3
    for w in ("worker-1", "worker-2"):  # each worker picked up at least one of the three flow runs
        assert any(i in cluster.log(w) for i in ids.values()), f"{w} ran none of the batch"
    assert (art / "batches" / name / "summary.csv").read_text().count("Completed") == 3
    assert (art / "batches" / name / "summary.png").stat().st_size > 0
    _check_mlflow(art, name)
    for n in ITEMS:
        store = stores[n]()
        assert store.status == "complete" and store.verify().damaged == {}
        assert store.read_video().shape == (15, 64, 96, 3) and np.std(store.read_video()) > 0.02


def _check_mlflow(art: Path, name: str) -> None:
    """The batch's MLflow run holds the summary and is the parent of its three longshot runs."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{art / 'mlflow.db'}")
    exp = client.get_experiment_by_name("worldwarp")
    batch = client.search_runs([exp.experiment_id], f"tags.`worldwarp.batch` = '{name}'")
    assert len(batch) == 1 and batch[0].data.metrics["items_completed"] == 3
    assert {a.path for a in client.list_artifacts(batch[0].info.run_id)} == {"summary.csv", "summary.png"}
    kids = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{batch[0].info.run_id}'")
    assert sorted(r.data.tags["worldwarp.run_id"] for r in kids) == sorted(ITEMS)


def _check_rerun_skips(cluster: "Cluster", params: Path, overrides: list[str], name: str) -> None:
    again = cluster.batch(params, overrides, name)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {r["state"] for r in _summary(again)["items"]} == {"skipped"}
    assert _flow_run_ids(cluster.api, [f"{name}-{n}" for n in ITEMS]) == {}  # nothing was submitted


def _descendants(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for k in task.read_text().split():
            kids += [int(k), *_descendants(int(k))]
    return kids


def _kill_tree(proc: subprocess.Popen) -> None:
    """kill -9 a worker and the flow-run processes it started: a machine lost mid-run."""
    for pid in [proc.pid, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


@pytest.mark.slow
@pytest.mark.server
def test_batches_over_two_workers_on_disk_then_on_s3_with_a_worker_killed(tmp_path, monkeypatch):
    """One cluster (server, pool, prefect.yaml deployed, two workers), two batches of the same three items.

    b1, stores on local disk: every item Completed, spread over both workers, summary written; a rerun skips all.
    b2, stores in moto's S3 (another local artifacts folder, so nothing comes from b1), plus a fourth item, a
    broken photo: a worker is killed -9 mid-item; the batch sees that item's lease go stale, sets its run Crashed
    and submits it again on the other worker, which resumes from the bucket. The broken photo fails alone and is
    listed with its error; the batch ends Failed. Every store in the bucket equals b1's, array for array."""
    params, art = _params(tmp_path), tmp_path / "artifacts"
    with moto_s3("batch") as s3:
        for k, v in s3.items():
            monkeypatch.setenv(k, v)
        common = ["batch.experiments=[all]", "batch.poll_s=1", "lease.heartbeat_s=1", "lease.stale_s=5"]
        cluster = Cluster(tmp_path, s3)
        try:
            on_disk = [*common, f"artifacts={art / 'disk'}"]
            out = cluster.batch(params, on_disk, "b1")
            disk = {n: (lambda n=n: RunStore.open(art / "disk" / "runs" / f"{n}.zarr")) for n in ITEMS}
            _check_batch(cluster, out, art / "disk", "b1", disk)
            _check_rerun_skips(cluster, params, on_disk, "b1-again")

            photos = tmp_path / "photos"
            photos.mkdir()
            (photos / "broken.png").write_bytes(b"not a png")
            item = _run_and_kill(cluster, params, [*common, f"artifacts={art / 's3'}", "remote.url=s3://batch/shared",
                                                   f"batch.images={photos}"])
            # the killed item ran twice: Crashed, then Completed on the surviving worker
            assert sorted(_flow_runs(cluster.api, f"b2-{item}")) == ["Completed", "Crashed"]
            rows = {r["name"]: r for r in csv.DictReader((art / "s3" / "batches" / "b2" / "summary.csv").open())}
            assert {n: r["state"] for n, r in rows.items()} == {"img-broken": "Failed", **{n: "Completed" for n in ITEMS}}
            assert "broken.png: not a readable image" in rows["img-broken"]["error"]

            for n in ITEMS:
                a, b = disk[n](), _pulled(tmp_path, "shared", n)
                assert b.status == "complete" and b.verify().damaged == {}
                groups = [(k, s) for k in a.chunks() for s in a.stages(k)]
                assert groups == [(k, s) for k in b.chunks() for s in b.stages(k)]
                for k, s in groups:
                    x, y = a.read_stage(k, s), b.read_stage(k, s)
                    assert x.keys() == y.keys()
                    assert all(np.array_equal(x[m], y[m], equal_nan=True) for m in x), (n, k, s)
                assert np.array_equal(a.read_video(), b.read_video())
        finally:
            cluster.stop()


def _run_and_kill(cluster: Cluster, params: Path, overrides: list[str]) -> str:
    """Batch b2 in the background; kill -9 the worker of the first item with a chunk's groups in the bucket.
    Returns that item once the batch has ended (Failed: it holds one broken photo)."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    code = ("import json, sys; from flows.batch import batch; "
            "r = batch(profile='default', params_file=sys.argv[1], overrides=json.loads(sys.argv[2]), name='b2'); "
            "print('SUMMARY', json.dumps(r))")
    b2 = subprocess.Popen([str(BIN / "python"), "-c", code, str(params), json.dumps(overrides)],
                          env=cluster.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    while victim is None:
        assert b2.poll() is None, b2.communicate()[1][-3000:]
        fs.invalidate_cache()
        for n in ITEMS:
            lease = f"batch/shared/runs/{n}.zarr.lease"
            if len(fs.glob(f"batch/shared/runs/{n}.zarr/chunks/0/*/zarr.json")) >= 3 and fs.exists(lease):
                job = json.loads(fs.cat_file(lease))["job"]
                owner = [w for w, name in zip(cluster.workers, ("worker-1", "worker-2")) if job in cluster.log(name)]
                if owner:  # else the worker's log line is not flushed yet: look again
                    victim = (n, owner[0])
                    break
        time.sleep(0.2)
    _kill_tree(victim[1])
    _, err = b2.communicate(timeout=900)
    assert b2.returncode != 0
    assert "batch b2: 1 of 4 items did not complete (img-broken)" in err, err[-3000:]
    return victim[0]


def _flow_runs(api: str, name: str) -> list[str]:
    import urllib.request

    body = json.dumps({"flow_runs": {"name": {"any_": [name]}}}).encode()
    req = urllib.request.Request(f"{api}/flow_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return [fr["state"]["name"] for fr in json.load(r)]


def _pulled(tmp_path: Path, prefix: str, name: str) -> RunStore:
    """The item's store as the bucket holds it, copied to a fresh folder (what another machine would see)."""
    local = tmp_path / "pulled" / prefix / f"{name}.zarr"
    RemoteStore(f"s3://batch/{prefix}/runs/{name}.zarr").pull(local)
    return RunStore.open(local)
