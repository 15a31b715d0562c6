"""Damaged stores are found (verify, inspect, reads), refused (export) and healed (resume) in place."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from conftest import BIN, ROOT, assert_same_run, cli_env
from worldwarp.export import export_all
from worldwarp.store import RunStore, StoreError

H, W = 24, 32


def _store(tmp_path) -> RunStore:
    s = RunStore.create(tmp_path, "r", params={}, input_digest="d", code_version="v", total_frames=12, frame_shape=(H, W),
                        video_layout="pixels")  # a store from before video views: the video's own shards
    rng = np.random.default_rng(0)
    # frames of >= 1 MiB (a file each), small sharded rows, a bool array: every layout encoding.py makes
    # ("plain" is outside the precision table: the float32 frames stay float32)
    s.write_stage(0, "plain", "k0", {"rgb": rng.random((3, 256, 384, 3), np.float32),
                                 "K": rng.random((6, 3, 3)), "mask": rng.random((6, H, W)) > 0.5})
    s.write_video_frames(0, rng.integers(0, 255, (12, H, W, 3), np.uint8))
    return s


def _damage(p: Path, how: str) -> None:
    if how == "delete":
        p.unlink()
    elif how == "truncate":
        os.truncate(p, p.stat().st_size // 2)
    else:  # same size, one byte changed
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0xFF
        p.write_bytes(bytes(b))


@pytest.mark.parametrize("how", ["delete", "truncate", "flip"])
def test_every_damaged_file_is_found(tmp_path, how):
    s = _store(tmp_path)
    groups = {"chunks/0/plain": s.stage_dir(0, "plain"), "video": s.path / "video"}
    # every chunk file and array zarr.json (the group's own zarr.json holds the checksums)
    files = [(g, p) for g, d in groups.items() for p in sorted(d.rglob("*"))
             if p.is_file() and p != d / "zarr.json" and not p.name.startswith(".")]
    assert len(files) >= 10
    for group, p in files:
        saved = p.read_bytes()
        _damage(p, how)
        deep, quick = s.verify(deep=True), s.verify(deep=False)
        assert list(deep.damaged) == [group], p
        assert p.relative_to(s.path / group).as_posix() in deep.damaged[group][0]
        # sizes and presence need no checksum; a flipped byte does
        assert (group in quick.damaged) == (how != "flip"), p
        p.write_bytes(saved)
    assert s.verify().ok


@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_a_damaged_chunk_is_never_read_as_data(tmp_path, how):
    s = _store(tmp_path)
    for p in sorted((s.stage_dir(0, "plain") / "rgb" / "c").rglob("*")):
        if p.is_file():
            saved = p.read_bytes()
            _damage(p, how)
            with pytest.raises(StoreError, match="damaged"):
                s.read_stage(0, "plain")
            with pytest.raises(StoreError, match="damaged"):
                s.read_array(0, "plain", "rgb")
            p.write_bytes(saved)
    shard = next(p for p in (s.path / "video" / "rgb" / "c").rglob("*") if p.is_file())
    _damage(shard, how)
    with pytest.raises(StoreError, match="damaged"):
        s.read_video()


def test_a_removed_array_directory_is_damage(tmp_path):
    s = _store(tmp_path)
    shutil.rmtree(s.stage_dir(0, "plain") / "mask")
    assert "chunks/0/plain" in s.verify(deep=False).damaged
    with pytest.raises(StoreError):
        s.read_stage(0, "plain")
    assert [r.status for r in s.summary(s.verify())] == ["damaged"]


def test_groups_without_checksums_are_listed_unchecked(tmp_path):
    s = _store(tmp_path)
    meta = s.stage_dir(0, "plain") / "zarr.json"
    import json

    doc = json.loads(meta.read_text())
    del doc["attributes"]["manifest"]
    meta.write_text(json.dumps(doc))
    assert "chunks/0/plain" in s.verify().damaged  # an edited zarr.json fails its seal
    del doc["attributes"]["seal"]  # as written before seals too
    meta.write_text(json.dumps(doc))
    v = s.verify()
    assert v.ok and v.unchecked == ["chunks/0/plain"] and v.checked == 1  # the video still is
    assert any("no seal" in line and "chunks/0/plain" in line for line in v.limits), v.limits


# ---- a finished tiny run, through the CLI -----------------------------------------------------------

def _cli(*args, check=False):
    res = subprocess.run([str(BIN / "worldwarp"), *map(str, args)], env=cli_env(), cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stderr[-3000:]
    return res


def _one_line_error(res, *words):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in res.stderr, res.stderr[-2000:]
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def finished(finished_run) -> Path:
    return finished_run  # one per test session (conftest.py), shared with tests/test_store_damage.py


def _copy(finished: Path, dest: Path) -> RunStore:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(finished, dest)
    return RunStore.open(dest)


def _same_run(a: RunStore, b: RunStore) -> None:
    assert a.chunks() == b.chunks() and a.status == b.status == "complete"
    assert_same_run(a, b)
    for n, v in a.read_input().items():
        np.testing.assert_array_equal(v, b.read_input()[n])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_any_damaged_chunk_file_of_a_run_is_found_and_refused(finished, tmp_path, how):
    s = _copy(finished, tmp_path / "runs" / "x.zarr")
    files = [p for p in s.path.rglob("*") if p.is_file() and "c" in p.relative_to(s.path).parts]
    assert len(files) >= 40  # every chunk file of every group (the video's frames are the frames groups') and the input's
    for p in files:
        saved = p.read_bytes()
        _damage(p, how)
        rel = p.relative_to(s.path).parts
        group = "/".join(rel[:3]) if rel[0] == "chunks" else rel[0]
        assert list(s.verify(deep=False).damaged) == [group], p
        with pytest.raises(StoreError, match="damaged"):
            export_all(s, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        p.write_bytes(saved)
    assert s.verify().ok
    export_all(s, tmp_path / "out")


@pytest.mark.slow
def test_a_deleted_gaussians_chunk_is_refused_then_healed(finished, tmp_path):
    """The NaN-ply case: zarr would read the missing chunk as NaN; export must refuse, resume must rebuild."""
    s = _copy(finished, tmp_path / "art" / "runs" / "ref.zarr")
    means = s.stage_dir(0, "gaussians") / "means"
    next(p for p in (means / "c").rglob("*") if p.is_file()).unlink()
    out = tmp_path / "export"
    _one_line_error(_cli("export", s.path, "--out", out), "damaged", "chunks/0/gaussians")
    assert not out.exists()
    _one_line_error(_cli("verify", s.path), "damaged")
    assert "damaged" in _cli("inspect", s.path, check=True).stdout
    res = _cli("resume", s.path, check=True)
    assert "chunks/0/gaussians is damaged" in res.stderr
    assert _cli("verify", s.path, check=True).returncode == 0
    _same_run(RunStore.open(finished), s)
    _cli("export", s.path, "--out", out, check=True)
    xyz = np.stack([PlyData.read(out / "gaussians.ply")["vertex"][c] for c in "xyz"], 1)
    assert len(xyz) > 0 and np.isfinite(xyz).all()


@pytest.mark.slow
def test_resume_heals_in_place_with_the_runs_own_settings(finished, tmp_path):
    """A store moved outside <artifacts>/runs: resume repairs that store, writes nothing beside its parents,
    and keeps tracking off as the run had it (no mlflow.db anywhere)."""
    s = _copy(finished, tmp_path / "elsewhere" / "some" / "dir" / "run.zarr")
    # damage the last chunk's output, the video (a view: its zarr.json) and the input: no earlier stage recomputes
    frames = next(p for p in (s.stage_dir(2, "frames") / "rgb" / "c").rglob("*") if p.is_file())
    _damage(frames, "truncate")
    (s.path / "video" / "zarr.json").write_text("{not json")
    next(p for p in (s.path / "input").rglob("*") if p.is_file() and p.name != "zarr.json").unlink()
    before = {k: s.stage_status(k, "gaussians").finished_at for k in s.chunks()}
    _cli("resume", tmp_path / "elsewhere" / "some" / "dir" / "run.zarr", check=True)
    top = tmp_path / "elsewhere"
    assert sorted(p.relative_to(top).as_posix() for p in top.rglob("*") if "run.zarr" not in p.parts) == [
        "some", "some/dir", "some/dir/run.mp4"]
    assert not list(tmp_path.rglob("mlflow.db")) and not list(finished.parent.parent.rglob("mlflow.db"))
    assert s.settings()["tracking"]["mlflow"] is False
    assert {k: s.stage_status(k, "gaussians").finished_at for k in s.chunks()} == before  # nothing upstream redone
    _same_run(RunStore.open(finished), s)


@pytest.mark.slow
def test_unfinished_stores_and_wrong_paths_are_one_line_errors(finished, tmp_path):
    s = _copy(finished, tmp_path / "runs" / "x.zarr")
    s.set_status("failed")
    out = tmp_path / "out"
    _one_line_error(_cli("export", s.path, "--out", out), "failed, not complete")
    assert not out.exists()
    a_file = tmp_path / "file.zarr"
    a_file.write_text("x")
    for cmd in ("export", "verify", "inspect", "resume"):
        _one_line_error(_cli(cmd, a_file), "is a file")
        _one_line_error(_cli(cmd, tmp_path / "nothing.zarr"), "no run store")
    _one_line_error(_cli("export", finished, "--out", a_file), "not a directory")
    assert not out.exists() and a_file.read_text() == "x"


@pytest.mark.slow
def test_a_video_emptied_by_a_killed_repair_is_refilled(finished, tmp_path):
    """What a resume killed right after replacing a damaged video leaves: an intact but empty video
    under complete stages. Export refuses it; the next resume puts the chunks' frames back."""
    s = _copy(finished, tmp_path / "runs" / "ref.zarr")
    s.reset_video()
    assert list(s.verify().damaged) == ["video"] and len(s.read_video()) == 0  # a complete run's video is whole
    _one_line_error(_cli("export", s.path, "--out", tmp_path / "out"), "video: holds frames [], not 0..21")
    _cli("resume", s.path, check=True)
    _same_run(RunStore.open(finished), s)
