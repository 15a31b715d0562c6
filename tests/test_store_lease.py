"""One writer per run: the store's lease on local disk, on fsspec's memory filesystem, on S3 (moto's
server), and through the CLI with two real concurrent jobs on one run."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, ROOT, cli_env
from moto_s3 import moto_s3
from worldwarp.config import ConfigError, load_params
from worldwarp.store import RunStore, StoreError
from worldwarp.store.lease import Lease, lease_path


def _held(store) -> dict:
    return json.loads(Path(lease_path(store)).read_text())


def test_second_lease_on_a_run_is_refused_until_released(tmp_path):
    store = tmp_path / "runs" / "a.zarr"
    with Lease(store, stale_s=5, heartbeat_s=1) as first:
        held = _held(store)
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname() and held["token"] == first.token
        with pytest.raises(StoreError, match="being written by .*@.*:%d" % os.getpid()) as e:
            Lease(store, stale_s=5, heartbeat_s=1).acquire()
        assert "\n" not in str(e.value)
    assert not Path(lease_path(store)).exists()
    Lease(store, stale_s=5, heartbeat_s=1).acquire().release()


def test_heartbeat_keeps_the_lease_fresh(tmp_path):
    store = tmp_path / "a.zarr"
    with Lease(store, stale_s=0.6, heartbeat_s=0.1):
        first = _held(store)["heartbeat"]
        time.sleep(0.9)  # longer than stale_s: only the heartbeat keeps it held
        assert _held(store)["heartbeat"] > first
        with pytest.raises(StoreError, match="being written by"):
            Lease(store, stale_s=0.6, heartbeat_s=0.1).acquire()


def test_stale_lease_of_another_host_is_taken_over(tmp_path):
    store = tmp_path / "a.zarr"
    Path(lease_path(store)).write_text(json.dumps({"owner": "x@elsewhere:1", "host": "elsewhere", "pid": 1,
                                                   "token": "old", "heartbeat": time.time() - 120}))
    with Lease(store, stale_s=60, heartbeat_s=10) as lease:
        assert _held(store)["token"] == lease.token
    fresh = {"owner": "x@elsewhere:1", "host": "elsewhere", "pid": 1, "token": "old", "heartbeat": time.time()}
    Path(lease_path(store)).write_text(json.dumps(fresh))  # a live owner elsewhere: refused
    with pytest.raises(StoreError, match="x@elsewhere:1"):
        Lease(store, stale_s=60, heartbeat_s=10).acquire()


def test_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    store = tmp_path / "a.zarr"
    dead = subprocess.Popen(["true"])
    dead.wait()
    Path(lease_path(store)).write_text(json.dumps({"owner": "me", "host": socket.gethostname(), "pid": dead.pid,
                                                   "token": "old", "heartbeat": time.time()}))
    with Lease(store, stale_s=60, heartbeat_s=10) as lease:
        assert _held(store)["token"] == lease.token


def test_holder_notices_a_takeover_and_stops(tmp_path):
    store = tmp_path / "a.zarr"
    lease = Lease(store, stale_s=1, heartbeat_s=0.1).acquire()
    lease.check()
    Path(lease_path(store)).write_text(json.dumps({"owner": "new@owner:2", "token": "new", "heartbeat": time.time()}))
    time.sleep(0.5)
    with pytest.raises(StoreError, match="taken over by new@owner:2"):
        lease.check()
    lease.release()
    assert _held(store)["token"] == "new"  # the new owner's lease is left alone


def test_lease_on_fsspec_memory_filesystem():
    import fsspec

    store = f"memory://leases-{os.getpid()}/runs/a.zarr"
    with Lease(store, stale_s=5, heartbeat_s=1):
        with pytest.raises(StoreError, match="being written by"):
            Lease(store, stale_s=5, heartbeat_s=1).acquire()
    assert not fsspec.filesystem("memory").exists(lease_path(store)[len("memory://"):])


@pytest.mark.server
def test_lease_on_s3_is_a_conditional_create(monkeypatch):
    """moto's S3 server honours If-None-Match: *, which s3fs sends for mode 'xb'."""
    s3fs = pytest.importorskip("s3fs")
    with moto_s3("leases") as env:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        store = "s3://leases/runs/a.zarr"
        with Lease(store, stale_s=5, heartbeat_s=1) as lease:
            assert json.loads(fs.cat_file("leases/runs/a.zarr.lease"))["token"] == lease.token
            with pytest.raises(StoreError, match="being written by"):
                Lease(store, stale_s=5, heartbeat_s=1).acquire()
        fs.invalidate_cache()
        assert not fs.exists("leases/runs/a.zarr.lease")


def test_lease_knobs_are_validated():
    assert load_params(None, ["lease.stale_s=30", "lease.heartbeat_s=5"]).lease.stale_s == 30
    with pytest.raises(ConfigError, match="stale_s must be longer"):
        load_params(None, ["lease.stale_s=5", "lease.heartbeat_s=5"])


def test_second_concurrent_job_on_a_run_is_refused(tmp_path, tiny):
    """Two real `worldwarp demo` processes on one run: the second exits 2 with one line, the first completes."""
    cmd = [str(BIN / "worldwarp"), "demo", "--run-id", "one", "--set", f"artifacts={tmp_path}",
           *[a for o in tiny for a in ("--set", o)]]
    path = tmp_path / "runs" / "one.zarr"
    first = subprocess.Popen(cmd, env=cli_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (path / "input").exists():  # the first job holds the lease and has started writing
            assert first.poll() is None, first.communicate()[1][-2000:]
            time.sleep(0.05)
        second = subprocess.run(cmd, env=cli_env(), cwd=ROOT, capture_output=True, text=True)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "being written by" in lines[0] and f":{first.pid}" in lines[0], second.stderr
        _, err = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, err[-2000:]
    assert RunStore.open(path).status == "complete"
    assert not Path(lease_path(path)).exists()
    shutil.rmtree(tmp_path / "runs")
