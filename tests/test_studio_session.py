"""The Studio's logic on real tiny runs (no browser): generate chunk by chunk, roll back, one writer per run."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import BIN, ROOT, TINY, cli_env
from flows.studio import session as S
from flows.studio.lock import BusyError, writer
from worldwarp.store.lease import Lease


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: on the shared 2-core machine, more threads only contend (50 s instead of 18 s measured)
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _base(tmp_path: Path) -> list[str]:
    return [*TINY, f"artifacts={tmp_path / 'artifacts'}", "tracking.mlflow=false"]


def _arrays(store: S.RunStore) -> dict[str, np.ndarray]:
    out = {"video": store.read_video()}
    for k in store.chunks():
        for stage in store.stages(k):
            for name, a in store.read_stage(k, stage).items():
                out[f"{k}/{stage}/{name}"] = np.asarray(a)
    return out


def _run(cfg, path, n):
    return [e for e in S.generate(cfg, path, n, track=False)]


def test_rollback_then_generate_again_gives_the_same_store(tmp_path):
    cfg = S.build_config(_base(tmp_path), S.Choice(movement="DOLLY_IN + PAN_RIGHT", chunks=3))
    path = S.store_path(cfg, "r")
    events = _run(cfg, path, 2)
    assert [e for e in events if e[0] == "chunk"] == [("chunk", 0, ""), ("chunk", 1, "")]
    store = S.RunStore.open(path)
    before = _arrays(store)
    assert store.video_ranges() == [(0, S.span(cfg, 1).stop)] and store.status == "running"

    assert S.rollback(path) == 1
    assert store.chunks() == [0] and store.status == "running"
    assert store.video_ranges() == [(0, S.span(cfg, 1).new_start)]
    assert store.verify(deep=True).ok  # dropping a chunk leaves every checksum right
    assert len(store.read_video()) == S.span(cfg, 1).new_start

    _run(S.config_of(store), path, 1)  # continue with the store's own settings, as the page does
    after = _arrays(S.RunStore.open(path))
    assert sorted(after) == sorted(before)
    for name, a in before.items():
        assert a.dtype == after[name].dtype and np.array_equal(a, after[name], equal_nan=True), name

    # a rollback killed after the video forgot the frames but before the groups left: reopening (as a resume
    # or the next Generate does) puts the frames back from the chunk's own output
    import worldwarp.store.video as video

    video.truncate(path / "video", S.span(cfg, 1).new_start)
    S.open_run(S.config_of(store), store_path=path)
    assert np.array_equal(store.read_video(), before["video"])
    with pytest.raises(S.StoreError, match="chunk 7 is not in this store"):
        store.drop_chunk(7, 0)

    mp4, sheet = S.chunk_media(store, 1)
    import imageio.v3 as iio

    img = iio.imread(sheet)
    assert img.shape[1] == 5 * cfg.resolution.width  # history | warped | mask | noise level | output


def test_a_run_being_written_refuses_a_second_writer(tmp_path):
    cfg = S.build_config(_base(tmp_path), S.Choice(chunks=3))
    path = S.store_path(cfg, "busy")
    with writer(path, cfg):
        with pytest.raises(BusyError, match="being written by"):
            _run(cfg, path, 1)
        with pytest.raises(BusyError):
            S.rollback(path)
    assert not path.exists()  # refused before anything was written
    with Lease(path):  # the lease a CLI or flow run takes: the same one
        with pytest.raises(BusyError, match="being written by"):
            _run(cfg, path, 1)
    _run(cfg, path, 1)  # the lease went with its holder
    assert S.RunStore.open(path).chunks() == [0]


def test_a_cli_run_on_a_run_the_studio_holds_is_refused(tmp_path):
    """A real `worldwarp demo` process on the run a Studio session is writing: exit 2, one line, nothing written."""
    cfg = S.build_config(_base(tmp_path), S.Choice(chunks=3))
    path = S.store_path(cfg, "busy")
    cmd = [str(BIN / "worldwarp"), "demo", "--run-id", "busy", *[a for o in _base(tmp_path) for a in ("--set", o)]]
    with writer(path, cfg):
        done = subprocess.run(cmd, env=cli_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "busy.zarr.lease: run is being written by" in lines[0] and f":{os.getpid()}" in lines[0]
    assert not path.exists()


def test_a_bad_upload_is_one_line_and_writes_no_store(tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_text("not an image")
    from worldwarp.io.images import InputImageError

    cfg = S.build_config(_base(tmp_path), S.Choice(image=str(bad), chunks=3))
    path = S.store_path(cfg, "bad")
    with pytest.raises(InputImageError) as e:
        _run(cfg, path, 1)
    assert "\n" not in str(e.value) and not path.exists()


def test_camera_choices_become_the_runs_trajectory(tmp_path):
    from stages.inputs import trajectory_cameras
    from worldwarp.geometry.trajectory_io import save_cameras_npz

    base = _base(tmp_path)
    per_chunk = S.build_config(base, S.Choice(movement="DOLLY_IN; PAN_LEFT + TILT_UP", speed=2.0, chunks=3))
    assert per_chunk.trajectory.movements == ["DOLLY_IN", "PAN_LEFT + TILT_UP"] and per_chunk.trajectory.speed == 2.0
    orbit = S.build_config(base, S.Choice(movement="orbit_left", chunks=3))
    cams = trajectory_cameras(orbit)
    npz = tmp_path / "cameras.npz"
    save_cameras_npz(npz, cams)
    from_file = S.build_config(base, S.Choice(movement="forward", camera_file=str(npz), chunks=3))
    assert from_file.trajectory.file.startswith(str(tmp_path / "artifacts" / "studio" / "uploads"))  # kept, not Gradio's temp copy
    assert np.allclose(trajectory_cameras(from_file).w2c.numpy(), cams.w2c.numpy(), atol=1e-5)
    png = S.preview_png(per_chunk, tmp_path / "t.png")
    assert Path(png).stat().st_size > 10_000


def test_a_bad_camera_file_is_one_line_and_writes_no_store(tmp_path):
    bad = tmp_path / "cams.npz"
    np.savez(bad, nothing=np.zeros(3))
    cfg = S.build_config(_base(tmp_path), S.Choice(camera_file=str(bad), chunks=3))
    path = S.store_path(cfg, "badcam")
    from worldwarp.geometry.cameras import CameraError

    with pytest.raises(CameraError) as e:
        _run(cfg, path, 1)
    assert "\n" not in str(e.value) and not path.exists()


def test_studio_command_rejects_bad_settings_before_serving(tmp_path):
    import subprocess

    from conftest import BIN, ROOT, cli_env

    res = subprocess.run([str(BIN / "worldwarp"), "studio", "--set", "chunk.frames=many", "--port", "1"],
                         env=cli_env(HOME=str(tmp_path)), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error: invalid params: chunk.frames") and "Traceback" not in res.stderr
    # the CLI's start-up and the library never import gradio (only the studio's page does)
    code = "import sys, flows.cli, flows.studio.session; assert 'gradio' not in sys.modules"
    subprocess.run([str(BIN / "python"), "-c", code], check=True, cwd=ROOT, env=cli_env())


def test_studio_runs_are_tracked_in_mlflow_like_cli_runs(tmp_path):
    """The page names the run and the MLflow command: the run is there, one child per chunk, none twice after
    a roll back and a new generate."""
    import mlflow

    cfg = S.build_config([*TINY, f"artifacts={tmp_path / 'artifacts'}"], S.Choice(chunks=3))
    path = S.store_path(cfg, "tracked")
    list(S.generate(cfg, path, 2))
    S.rollback(path)
    list(S.generate(S.config_of(S.RunStore.open(path)), path, 1))
    from flows.tracking import tracking_uri

    c = mlflow.MlflowClient(tracking_uri(cfg))
    runs = c.search_runs([c.get_experiment_by_name("worldwarp").experiment_id], "tags.`worldwarp.run_id` = 'tracked'")
    chunks = sorted(r.data.tags["worldwarp.chunk"] for r in runs if "worldwarp.chunk" in r.data.tags)
    assert chunks == ["0", "1"] and len(runs) == 3


def test_studio_keeps_the_shared_copy_current(tmp_path):
    """With remote.url (memory:// here: the Studio runs in this process), every finished group goes to the shared
    copy, a roll back removes the chunk there too, and another machine (an empty disk) continues the run from it."""
    import shutil
    import uuid

    from worldwarp.store.remote import RemoteStore, remote_store_url

    url = f"memory://studio-{uuid.uuid4().hex}/ww"
    cfg = S.build_config([*_base(tmp_path), f"remote.url={url}"], S.Choice(chunks=3))
    path = S.store_path(cfg, "s")
    _run(cfg, path, 2)
    before = _arrays(S.RunStore.open(path))
    remote = RemoteStore(remote_store_url(url, "s"))
    chunks = lambda: sorted({g.split("/")[1] for g in remote.marked_groups() if g.startswith("chunks/")})  # noqa: E731
    assert chunks() == ["0", "1"] and len(remote.marked_groups()) == 1 + 2 * 6  # Studio keeps renders

    assert S.rollback(path) == 1
    assert chunks() == ["0"] and not remote.fs.exists(f"{remote.root}/chunks/1")
    assert json.loads(remote.meta_bytes(""))["attributes"]["status"] == "running"

    # another machine: its own artifacts folder, nothing on its disk; the shared copy brings chunk 0
    other = S.build_config([*TINY, f"artifacts={tmp_path / 'machine-b'}", "tracking.mlflow=false",
                            f"remote.url={url}"], S.Choice(chunks=3))
    path_b = S.store_path(other, "s")
    shutil.rmtree(path)
    events = _run(other, path_b, 1)
    assert [e for e in events if e[0] == "chunk"] == [("chunk", 1, "")]  # chunk 0 came from the shared copy
    after = _arrays(S.RunStore.open(path_b))
    assert sorted(after) == sorted(before)
    for name, a in before.items():
        assert np.array_equal(a, after[name], equal_nan=True), name
    _run(other, path_b, 1)
    copy = tmp_path / "reader" / "s.zarr"
    remote.pull(copy)
    got = S.RunStore.open(copy)
    assert got.status == "complete" and got.verify().ok and got.chunks() == [0, 1, 2]
    assert np.array_equal(got.read_video(), S.RunStore.open(path_b).read_video())
