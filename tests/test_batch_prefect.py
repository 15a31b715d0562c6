"""worldwarp/batch on a real Prefect server: prefect.yaml deployed to a process work pool with `prefect deploy --all`,
two longshot workers and one batch worker (each its own "machine": its own cache folder), the batch triggered as
users do, `prefect deployment run worldwarp/batch --watch`; three CPU-sized longshots whose stores live on local
disk, then in a local S3 bucket (moto's server) as the artifacts root."""

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

from conftest import BIN, ROOT, TINY, assert_same_run, cli_env, free_port, wait_http
from moto_s3 import moto_s3
from worldwarp.store import RunStore
from worldwarp.store.remote import RemoteStore

# every item uses TINY's trajectory.distance (a translating preset): a flow override a run does not use is refused
ITEMS = {"a": ["scene.name=room"], "b": ["scene.name=garden"], "c": ["scene.name=room", "trajectory.preset=truck_left"]}
# 5 3DGS steps, not TINY's 20: what this test checks (scheduling, skipping, a killed worker's item resumed from the
# bucket to the same arrays as on disk) does not depend on the fit's quality; the 3DGS fit was over half of each
# item's compute. The kill still lands mid-item: after chunk 0's warp is in the bucket, the item still has chunk 0's
# denoise and handoff and all of chunk 1 to do (seconds, against a 0.2 s poll)
SIZE = [*TINY, "chunk.count=2", "splat.steps=5"]


def _params(tmp_path: Path) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"experiments": {"common": SIZE, "runs": ITEMS}}))
    return p


class Cluster:
    """A Prefect server, the work pool `worldwarp`, prefect.yaml's deployments, two longshot workers and a batch
    worker. Every worker has its own XDG_CACHE_HOME: with a bucket as artifacts root, its own working copies."""

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
        self.workers = [self._worker(f"worker-{i}", "longshot") for i in (1, 2)]
        self._worker("worker-batch", "batch")

    def _worker(self, name: str, queue: str) -> subprocess.Popen:
        return self._start(name, [str(BIN / "prefect"), "worker", "start", "--pool", "worldwarp", "--work-queue", queue,
                                  "--limit", "1", "--name", name], XDG_CACHE_HOME=str(self.cache(name)))

    def cache(self, worker: str) -> Path:
        return self.tmp / "cache" / worker

    def _start(self, name: str, cmd: list[str], **env: str) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("w")
        p = subprocess.Popen(cmd, env={**self.env, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def _prefect(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "prefect"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    def run_batch(self, params: Path, overrides: list[str], name: str) -> list[str]:
        """The command a user types: the batch runs on the batch worker, its items on the longshot workers."""
        parameters = {"base": "default", "params_file": str(params), "overrides": overrides, "name": name}
        return [str(BIN / "prefect"), "deployment", "run", "worldwarp/batch", "--params", json.dumps(parameters),
                "--watch", "--watch-interval", "1", "--watch-timeout", "900"]

    def batch(self, params: Path, overrides: list[str], name: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.run_batch(params, overrides, name), env=self.env, cwd=ROOT, capture_output=True,
                              text=True, timeout=960)

    def start_batch(self, params: Path, overrides: list[str], name: str) -> subprocess.Popen:
        """As ``batch``, in the background: the test checks what is done meanwhile."""
        return subprocess.Popen(self.run_batch(params, overrides, name), env=self.env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

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


def _summary(art: Path, name: str) -> dict[str, dict]:
    """The batch's summary.csv, by item."""
    with (art / "batches" / name / "summary.csv").open() as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def _flow_run_ids(api: str, names: list[str]) -> dict[str, str]:
    import urllib.request

    body = json.dumps({"flow_runs": {"name": {"any_": names}}}).encode()
    req = urllib.request.Request(f"{api}/flow_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return {fr["name"]: fr["id"] for fr in json.load(r)}


def _check_batch(cluster: "Cluster", out: subprocess.CompletedProcess, art: Path, name: str, stores: dict) -> None:
    """Every item Completed, spread over both workers, the summary written, every store complete."""
    assert out.returncode == 0, out.stdout[-2000:] + cluster.log("worker-batch")[-3000:]
    items = _summary(art, name)
    assert {n: r["state"] for n, r in items.items()} == {n: "Completed" for n in ITEMS}
    assert all(r["frames"] == str(9 + 6) for r in items.values())
    ids = _flow_run_ids(cluster.api, [f"{name}-{n}" for n in ITEMS])
    assert len(ids) == 3
    for w in ("worker-1", "worker-2"):  # each worker picked up at least one of the three flow runs
        assert any(i in cluster.log(w) for i in ids.values()), f"{w} ran none of the batch"
    assert (art / "batches" / name / "summary.png").stat().st_size > 0
    _check_mlflow(f"sqlite:///{art / 'mlflow.db'}", name)
    for n in ITEMS:
        store = stores[n]()
        assert store.status == "complete" and store.verify().damaged == {}
        assert store.read_video().shape == (15, 64, 96, 3) and np.std(store.read_video()) > 0.02


def _check_mlflow(uri: str, name: str, completed: int = 3) -> str:
    """The batch's MLflow run holds the summary and is the parent of its three longshot runs. Returns the run's
    artifact URI."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("worldwarp")
    batch = client.search_runs([exp.experiment_id], f"tags.`worldwarp.batch` = '{name}'")
    assert len(batch) == 1 and batch[0].data.metrics["items_completed"] == completed
    assert {a.path for a in client.list_artifacts(batch[0].info.run_id)} == {"summary.csv", "summary.png"}
    kids = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{batch[0].info.run_id}'")
    assert sorted(r.data.tags["worldwarp.run_id"] for r in kids) == sorted(ITEMS)
    return batch[0].info.artifact_uri


def _check_rerun_skips(cluster: "Cluster", again: subprocess.Popen, art: Path, name: str) -> None:
    out, _ = again.communicate(timeout=960)
    assert again.returncode == 0, out[-3000:]
    assert {r["state"] for r in _summary(art, name).values()} == {"skipped"}
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
    """One cluster (server, pool, prefect.yaml deployed, two longshot workers, a batch worker), two batches of the
    same three items, each started with `prefect deployment run worldwarp/batch --watch`.

    b1, stores on local disk: every item Completed, spread over both workers, summary written; a rerun skips all.
    b2, artifacts=s3://batch/shared (moto's S3; each worker works in its own cache folder, so nothing comes from b1
    or from another worker's disk), plus a fourth item, a broken photo: a worker is killed -9 mid-item; the batch
    sees that item's lease go stale, sets its run Crashed and submits it again on the other worker, which resumes
    from the bucket. The broken photo fails alone and is listed with its error; the batch ends Failed. Every store
    in the bucket equals b1's, array for array, and the batch's MLflow artifacts are in the bucket too."""
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
            assert out.returncode == 0, out.stdout[-2000:] + cluster.log("worker-batch")[-3000:]
            # the rerun starts as soon as b1 has ended (it only reads b1's stores); b1's checks run meanwhile
            again = cluster.start_batch(params, on_disk, "b1-again")
            _check_batch(cluster, out, art / "disk", "b1", disk)
            _check_rerun_skips(cluster, again, art / "disk", "b1-again")

            photos = tmp_path / "photos"
            photos.mkdir()
            (photos / "broken.png").write_bytes(b"not a png")
            # one tracking database for all workers (an MLflow server in real life); its artifacts go to the bucket
            tracking = f"sqlite:///{tmp_path / 'mlflow-b2.db'}"
            item = _run_and_kill(cluster, params, [*common, "artifacts=s3://batch/shared", f"tracking.uri={tracking}",
                                                   f"batch.images={photos}"])
            # the killed item ran twice: Crashed, then Completed on the surviving worker
            assert sorted(_flow_runs(cluster.api, f"b2-{item}")) == ["Completed", "Crashed"]
            batch_copy = cluster.cache("worker-batch") / "worldwarp" / "s3" / "batch" / "shared"
            rows = _summary(batch_copy, "b2")
            assert {n: r["state"] for n, r in rows.items()} == {"img-broken": "Failed", **{n: "Completed" for n in ITEMS}}
            assert "broken.png: not a readable image" in rows["img-broken"]["error"]
            where = _check_mlflow(tracking, "b2")
            assert where.startswith("s3://batch/shared/mlflow/")
            import s3fs

            assert s3fs.S3FileSystem(skip_instance_cache=True).exists(f"{where}/summary.csv")
            # each longshot worker wrote only its own working copies
            copies = {w: {p.stem for p in (cluster.cache(w) / "worldwarp/s3/batch/shared/runs").glob("*.zarr")}
                      for w in ("worker-1", "worker-2")}
            assert copies["worker-1"] and copies["worker-2"] and set(ITEMS) <= copies["worker-1"] | copies["worker-2"]

            for n in ITEMS:
                a, b = disk[n](), _pulled(tmp_path, "shared", n)
                assert b.status == "complete" and b.verify().damaged == {}
                assert_same_run(a, b)
        finally:
            cluster.stop()


def _run_and_kill(cluster: Cluster, params: Path, overrides: list[str]) -> str:
    """Batch b2 in the background; kill -9 the worker of the first item with a chunk's groups in the bucket.
    Returns that item once the batch has ended (Failed: it holds one broken photo)."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    b2 = subprocess.Popen(cluster.run_batch(params, overrides, "b2"), env=cluster.env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = None
    while victim is None:
        assert b2.poll() is None, b2.communicate()[0][-3000:] + cluster.log("worker-batch")[-3000:]
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
    out, _ = b2.communicate(timeout=960)
    assert b2.returncode != 0, out[-3000:]  # --watch: the batch ended Failed
    log = cluster.log("worker-batch")
    assert "batch b2: 1 of 4 items did not complete (img-broken)" in log, out[-2000:] + log[-3000:]
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
