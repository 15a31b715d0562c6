"""One store per run: ids from content, resume or refuse on open, and runs never touch each other."""

import hashlib
import threading

import numpy as np
import pytest

from worldwarp.store import RunStore, StoreError, new_run_id

PARAMS = {"seed": 0, "chunk": {"frames": 9, "history": 3}}


def open_run(root, params=PARAMS, digest="d1", **kw):
    return RunStore.open_or_create(root, new_run_id(params, digest), params=params, input_digest=digest,
                                   code_version="v1", total_frames=12, frame_shape=(4, 4), **kw)


def snapshot(path):
    return {p.relative_to(path).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in path.rglob("*") if p.is_file()}


def test_same_params_and_inputs_resume_the_same_store(tmp_path):
    a = open_run(tmp_path)
    a.write_stage(0, "geometry", "k", {"x": np.arange(3)}, {})
    b = open_run(tmp_path)
    assert b.path == a.path and b.is_complete(0, "geometry", "k")
    assert [p.name for p in tmp_path.iterdir()] == [a.path.name]


def test_different_params_or_inputs_make_different_stores(tmp_path):
    a = open_run(tmp_path)
    b = open_run(tmp_path, params={**PARAMS, "seed": 1})
    c = open_run(tmp_path, digest="d2")
    assert len({a.path, b.path, c.path}) == 3


def test_reusing_a_run_id_with_other_params_is_refused_in_one_line(tmp_path):
    RunStore.open_or_create(tmp_path, "mine", params=PARAMS, input_digest="d1", code_version="v1")
    with pytest.raises(StoreError) as e:
        RunStore.open_or_create(tmp_path, "mine", params={**PARAMS, "chunk": {"frames": 10, "history": 3}},
                                input_digest="d1", code_version="v1")
    msg = str(e.value)
    assert "\n" not in msg and "chunk.frames" in msg and "mine.zarr" in msg
    with pytest.raises(StoreError, match="different inputs"):
        RunStore.open_or_create(tmp_path, "mine", params=PARAMS, input_digest="d2", code_version="v1")


def test_replace_params_adopts_the_new_ones_and_keeps_keyed_stages(tmp_path):
    s = RunStore.open_or_create(tmp_path, "mine", params=PARAMS, input_digest="d1", code_version="v1")
    s.write_stage(0, "geometry", "k-geo", {"x": np.arange(3)}, {})
    new = {**PARAMS, "seed": 5}
    s2 = RunStore.open_or_create(tmp_path, "mine", params=new, input_digest="d1", code_version="v2",
                                 replace_params=True)
    assert s2.params == new and s2.code_version == "v2"
    assert s2.is_complete(0, "geometry", "k-geo")  # content keys, not params, decide what recomputes


def test_a_new_code_version_resumes_without_complaint(tmp_path):
    RunStore.open_or_create(tmp_path, "mine", params=PARAMS, input_digest="d1", code_version="v1")
    s = RunStore.open_or_create(tmp_path, "mine", params=PARAMS, input_digest="d1", code_version="v2")
    assert s.code_version == "v2"


def test_create_refuses_an_existing_store_and_bad_ids(tmp_path):
    RunStore.create(tmp_path, "x", params={}, input_digest="d", code_version="v")
    with pytest.raises(StoreError, match="already exists"):
        RunStore.create(tmp_path, "x", params={}, input_digest="d", code_version="v")
    for bad in ("../up", ".hidden", "a/b", ""):
        with pytest.raises(StoreError):
            RunStore.create(tmp_path, bad, params={}, input_digest="d", code_version="v")


def test_open_refuses_what_is_not_a_run_store(tmp_path):
    with pytest.raises(StoreError, match="no run store"):
        RunStore.open(tmp_path / "missing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a Zarr v3 run store"):
        RunStore.open(tmp_path / "plain")
    import zarr

    zarr.create_group(str(tmp_path / "other.zarr"), zarr_format=3)
    with pytest.raises(StoreError, match="not a WorldWarp run store"):
        RunStore.open(tmp_path / "other.zarr")


def test_two_runs_in_one_root_never_touch_each_others_files(tmp_path):
    a = open_run(tmp_path)
    b = open_run(tmp_path, params={**PARAMS, "seed": 1})
    b.write_stage(0, "warp", "kb", {"x": np.ones((3, 4))}, {})
    b.write_stage(0, "frames", "kb", {"rgb": np.full((5, 4, 4, 3), 9 / 255, np.float32)}, {})
    b.add_video_frames(0, 0, 0, 5, lambda: np.full((5, 4, 4, 3), 9, np.uint8))
    before = snapshot(b.path)
    for k in range(3):  # everything a run does to its own store
        a.write_input({"image": np.zeros((4, 4, 3), np.float32)})
        a.write_stage(k, "warp", "kb", {"x": np.zeros((3, 4))}, {})
        a.write_stage(k, "warp", "ka", {"x": np.zeros((3, 4))}, {})
        a.write_stage(k, "frames", "ka", {"rgb": np.full((5, 4, 4, 3), 1 / 255, np.float32)}, {})
        a.add_video_frames(0, k, 0, 5, lambda: np.full((5, 4, 4, 3), 1, np.uint8))
        a.set_status("failed")
        a.collect_garbage(older_than_s=-1)
    assert snapshot(b.path) == before
    assert b.read_stage(0, "warp", key="kb")["x"].sum() == 12 and b.read_video()[0, 0, 0, 0] == 9


def test_concurrent_opens_of_one_run_make_one_store(tmp_path):
    stores, errors = [], []

    def go():
        try:
            stores.append(open_run(tmp_path))
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({s.path for s in stores}) == 1
    assert [p.name for p in tmp_path.iterdir()] == [stores[0].path.name]  # no temporary left behind


def test_identical_runs_share_a_stage_only_through_its_key(tmp_path):
    a = open_run(tmp_path / "a")
    b = open_run(tmp_path / "b")
    data = {"x": np.arange(1000.0)}
    a.write_stage(0, "gaussians", "same-key", data, {"count": 1000})
    assert b.reuse_stage(a, 0, "gaussians", "other-key") is None and not b.stage_status(0, "gaussians").exists
    ref = b.reuse_stage(a, 0, "gaussians", "same-key")
    assert ref is not None and ref.store == str(b.path) and b.is_complete(0, "gaussians", "same-key")
    np.testing.assert_array_equal(b.read_stage(0, "gaussians")["x"], data["x"])
    a.write_stage(0, "gaussians", "new-key", {"x": np.zeros(3)}, {})  # a moves on; b keeps its copy
    np.testing.assert_array_equal(b.read_stage(0, "gaussians", key="same-key")["x"], data["x"])
