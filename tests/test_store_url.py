"""`artifacts: s3://...`: a run whose artifacts root is a bucket (moto's S3 server). The bucket holds a real Zarr
store (read here with zarr's own FsspecStore, not our copy code), equal bit for bit to the local working copy;
our reader trusts only marked groups; the CLI reads, verifies, exports and resumes a store given by URL; MLflow's
artifacts land in the same bucket."""

import json
import subprocess

import numpy as np
import pytest

from conftest import BIN, ROOT, TINY, cli_env
from moto_s3 import moto_s3
from worldwarp.config import ConfigError, load_params
from worldwarp.store import RunStore
from worldwarp.store.remote import RemoteStore, pull_store

URL = "s3://bkt/ww/runs/u.zarr"
# 5 3DGS steps, not TINY's 20: where the arrays go and that they read back bit for bit does not depend on the fit
SIZE = [*TINY, "chunk.count=2", "splat.steps=5"]


def test_artifacts_url_is_remote_url_plus_a_local_working_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = load_params(None, ["artifacts=s3://bkt/ww/"])
    assert cfg.remote.url == "s3://bkt/ww" and cfg.artifacts == str(tmp_path / "xdg" / "worldwarp" / "s3" / "bkt" / "ww")
    cfg = load_params(None, ["artifacts=gs://b/p", f"remote.cache={tmp_path}/c"])
    assert cfg.artifacts == f"{tmp_path}/c/gs/b/p"
    assert load_params(None, ["artifacts=s3://b/p", "remote.url=s3://b/p/"]).remote.url == "s3://b/p"
    assert load_params(None, ["artifacts=file:///srv/ww"]).artifacts == "/srv/ww"
    # validating the validated config again changes nothing (the flow and the batch re-validate dumped configs)
    assert load_params(None, [f"{k}={json.dumps(v)}" for k, v in cfg.model_dump(mode="json").items()]) == cfg
    for bad, why in ((["artifacts=s3://b/p", "remote.url=s3://other/p"], "set only artifacts"),
                     (["artifacts=s3://b/p", "remote.cache=s3://c"], "must be a local folder"),
                     (["artifacts=s3://b/../p"], "'..' are not allowed")):
        with pytest.raises(ConfigError, match=why) as e:
            load_params(None, bad)
        assert "\n" not in str(e.value) and "assignment" not in str(e.value)
    with pytest.raises(ValueError, match="not by assignment"):  # it would skip the split and leave remote.url unset
        cfg.artifacts = "s3://bkt/other"


def test_tracking_defaults_stay_local_for_a_url_root(tmp_path):
    from flows.tracking import artifact_location, tracking_uri

    cfg = load_params(None, ["artifacts=s3://bkt/ww", f"remote.cache={tmp_path}"])
    assert tracking_uri(cfg) == f"sqlite:///{tmp_path}/s3/bkt/ww/mlflow.db"
    assert artifact_location(cfg) == "s3://bkt/ww/mlflow"
    local = load_params(None, [f"artifacts={tmp_path}/a"])
    assert artifact_location(local) == (tmp_path / "a" / "mlartifacts").as_uri()
    # MLflow has no artifact repository for memory://: the artifacts stay on this machine
    assert artifact_location(load_params(None, [f"artifacts={tmp_path}", "remote.url=memory://x"])).startswith("file:")


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "worldwarp"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _arrays(group, prefix: str = "") -> dict:
    """Every array under a zarr group, by path: (dtype, values)."""
    out = {}
    for name, a in group.arrays():
        out[f"{prefix}{name}"] = (a.dtype, a[...])
    for name, g in group.groups():
        out.update(_arrays(g, f"{prefix}{name}/"))
    return out


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k][0] == b[k][0], k
        assert np.array_equal(a[k][1], b[k][1], equal_nan=True), k


def _bucket(endpoint: str, prefix: str) -> dict[str, bytes]:
    import boto3

    c = boto3.client("s3", endpoint_url=endpoint)
    keys = [o["Key"] for p in c.get_paginator("list_objects_v2").paginate(Bucket="bkt", Prefix=prefix)
            for o in p.get("Contents", [])]
    return {k: c.get_object(Bucket="bkt", Key=k)["Body"].read() for k in keys}


@pytest.mark.slow
@pytest.mark.server
def test_run_with_a_bucket_as_artifacts_root(tmp_path, monkeypatch):
    import zarr
    from zarr.storage import FsspecStore, LocalStore

    with moto_s3("bkt") as s3:
        for k, v in s3.items():
            monkeypatch.setenv(k, v)
        env = cli_env(**s3, XDG_CACHE_HOME=str(tmp_path / "machine-a"))
        run = _cli(env, "demo", "--run-id", "u", "--set", "artifacts=s3://bkt/ww", *[a for o in SIZE for a in ("--set", o)])
        assert run.returncode == 0, run.stderr[-2000:]
        local = tmp_path / "machine-a" / "worldwarp" / "s3" / "bkt" / "ww" / "runs" / "u.zarr"
        assert f"store: {local}\nshared: {URL}\n" in run.stdout
        assert RunStore.open(local).status == "complete"

        # the bucket holds a zarr store that zarr itself opens, array for array the local working copy's bytes
        opts = {"endpoint_url": s3["AWS_ENDPOINT_URL"]}
        shared = zarr.open_group(FsspecStore.from_url(URL, storage_options=opts, read_only=True), mode="r")
        mine = zarr.open_group(LocalStore(local, read_only=True), mode="r")
        assert shared.attrs["status"] == "complete" and dict(shared.attrs) == dict(mine.attrs)
        want = _arrays(mine)
        # the video is a view of the frames groups (docs/STORE.md): its attrs, no pixels of its own
        assert len(want) > 20 and "chunks/1/frames/rgb" in want and "video/rgb" not in want
        assert shared["video"].attrs["layout"] == "view" and dict(shared["video"].attrs) == dict(mine["video"].attrs)
        _same(_arrays(shared), want)
        assert dict(shared["chunks/1/frames"].attrs) == dict(mine["chunks/1/frames"].attrs)

        # MLflow's artifacts went to <artifacts>/mlflow in the same bucket; the tracking database stayed local
        logged = _bucket(s3["AWS_ENDPOINT_URL"], "ww/mlflow/")
        names = {k.rsplit("/", 1)[1] for k in logged}
        assert {"input.png", "u.mp4", "chunk-000.mp4", "chunk-001.mp4"} <= names, names
        video = next(v for k, v in logged.items() if k.endswith("/u.mp4"))
        assert video == local.with_suffix(".mp4").read_bytes()
        assert (local.parents[1] / "mlflow.db").is_file()

        # the CLI takes the store's URL
        ok = _cli(env, "verify", URL)
        assert ok.returncode == 0 and ok.stdout.startswith(f"{URL}: intact"), ok.stderr
        assert "complete" in _cli(env, "inspect", URL).stdout
        out = _cli(env, "export", URL, "--out", str(tmp_path / "export"))
        assert out.returncode == 0 and (tmp_path / "export" / "video.mp4").stat().st_size > 0, out.stderr

        # a group whose mark says incomplete (zarr itself still opens it), and one whose mark never arrived (a copy
        # killed before its last PUT): our reader takes neither
        remote = RemoteStore(URL)
        meta = json.loads(remote.meta_bytes("chunks/1/frames"))
        meta["attributes"]["complete"] = False
        remote.fs.pipe_file(f"{remote.root}/chunks/1/frames/zarr.json", json.dumps(meta).encode())
        remote.fs.rm_file(f"{remote.root}/chunks/1/handoff/zarr.json")
        again = zarr.open_group(FsspecStore.from_url(URL, storage_options=opts, read_only=True), mode="r")
        assert np.array_equal(again["chunks/1/frames/rgb"][...], want["chunks/1/frames/rgb"][1])
        assert "chunks/1/frames" not in remote.marked_groups() and "chunks/1/handoff" not in remote.marked_groups()
        pulled = tmp_path / "reader" / "u.zarr"
        pull_store(URL, pulled)
        assert not RunStore.open(pulled).stage_status(1, "frames").exists
        assert not RunStore.open(pulled).stage_status(1, "handoff").exists
        # the run is complete, so its plan (in the root) says both must be there: the pulled copy lacks them
        partial = _cli(env, "verify", URL)
        assert partial.returncode == 2 and partial.stderr.startswith(f"error: {URL}: damaged"), partial.stderr
        assert {"chunks/1/frames: missing", "chunks/1/handoff: missing"} <= {
            ln.split(" (")[0] for ln in partial.stdout.splitlines()}, partial.stdout

        # resume by URL on another machine (its own cache): the two groups recompute, bit-identical
        env_b = cli_env(**s3, XDG_CACHE_HOME=str(tmp_path / "machine-b"))
        resumed = _cli(env_b, "resume", URL)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "machine-b" in resumed.stdout
        final = zarr.open_group(FsspecStore.from_url(URL, storage_options=opts, read_only=True), mode="r")
        assert final.attrs["status"] == "complete" and final["chunks/1/frames"].attrs["complete"] is True
        _same(_arrays(final), want)
        assert not remote.fs.exists(f"{remote.root}.lease")


@pytest.mark.server
def test_a_second_job_on_a_run_in_the_bucket_is_refused(tmp_path, monkeypatch):
    """The lease of a run whose artifacts root is a bucket lives in the bucket: a job on any machine that finds it
    held stops at once, with one line naming the holder, before it writes anything anywhere."""
    from worldwarp.store.lease import Lease

    with moto_s3("bkt") as s3:
        for k, v in s3.items():
            monkeypatch.setenv(k, v)
        env = cli_env(**s3, XDG_CACHE_HOME=str(tmp_path))
        with Lease(URL, stale_s=30, heartbeat_s=1, job="the-other-job"):  # a job on another machine, alive
            done = _cli(env, "demo", "--run-id", "u", "--set", "artifacts=s3://bkt/ww",
                        *[a for o in SIZE for a in ("--set", o)])
        assert done.returncode == 2, done.stderr[-2000:]
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {URL}.lease: run is being written by"), done.stderr
        assert not (tmp_path / "worldwarp" / "s3" / "bkt" / "ww" / "runs" / "u.zarr").exists()
        assert not RemoteStore(URL).exists()


@pytest.mark.server
def test_missing_bucket_or_store_is_one_line_error(tmp_path):
    with moto_s3("bkt") as s3:
        env = cli_env(**s3, XDG_CACHE_HOME=str(tmp_path))
        for args, why in ((["verify", "s3://nobucket/ww/runs/u.zarr"], "no bucket 'nobucket' there"),
                          (["inspect", "s3://bkt/ww/runs/u.zarr"], "no run store there"),
                          (["export", "s3://bkt/ww/runs/u.zarr", "--out", str(tmp_path / "x")], "no run store there"),
                          (["resume", "s3://bkt/ww/runs/u.zarr"], "no run store there"),
                          (["inspect", "s3://bkt/ww/u.zarr"], "ends in /runs/<run-id>.zarr")):
            done = _cli(env, *args)
            assert done.returncode == 2 and done.stderr.count("\n") == 1 and why in done.stderr, (args, done.stderr)
        assert not (tmp_path / "x").exists()
