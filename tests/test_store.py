"""RunStore round trips: stage arrays and attrs, completion and keys, per-frame reads, file counts.

Most tests write a group named "plain": no entry of the precision table (worldwarp/store/precision.py)
names it, so its arrays are stored exactly as given."""

import json

import numpy as np
import pytest

from worldwarp.store import RunStore, StageRef, StoreError


@pytest.fixture
def store(tmp_path):
    return RunStore.create(tmp_path / "runs", "r1", params={"seed": 0}, input_digest="d" * 64,
                           code_version="test-v1", total_frames=20, frame_shape=(8, 12))


def stage_arrays(frames=7, seed=0):
    rng = np.random.default_rng(seed)
    return {"rgb": rng.random((frames, 8, 12, 3), dtype=np.float32),
            "depth": rng.random((frames, 8, 12)).astype(np.float64),
            "mask": (rng.random((frames, 8, 12)) > 0.5).astype(np.uint8),
            "valid": rng.random((frames,)) > 0.5,
            "K": np.tile(np.eye(3, dtype=np.float32), (frames, 1, 1)),
            "count": np.array(42, dtype=np.int64)}


def test_stage_round_trip_keeps_values_dtypes_and_attrs(store):
    arrays = stage_arrays()
    ref = store.write_stage(0, "plain", "k1", arrays, {"history": 5, "hole_fraction": np.float32(0.25),
                                                   "compute_seconds": 2.0, "note": None})
    assert ref == StageRef(str(store.path), 0, "plain", "k1")
    back = store.read_stage(0, "plain")
    assert back.keys() == arrays.keys()
    for n, a in arrays.items():
        assert back[n].dtype == a.dtype and back[n].shape == a.shape
        np.testing.assert_array_equal(back[n], a)
    attrs = store.stage_attrs(0, "plain")
    assert attrs["history"] == 5 and attrs["hole_fraction"] == 0.25 and attrs["note"] is None
    assert attrs["complete"] is True and attrs["key"] == "k1" and attrs["seconds"] >= 2.0
    assert attrs["nbytes"] > 0 and attrs["raw_nbytes"] == sum(a.nbytes for a in arrays.values())


def test_nan_values_survive(store):
    a = np.full((3, 4, 4), np.nan, np.float32)
    a[1, 2, 3] = 1.0
    store.write_stage(0, "plain", "k", {"depth": a}, {})
    np.testing.assert_array_equal(store.read_stage(0, "plain")["depth"], a)


def test_is_complete_needs_the_same_key(store):
    assert not store.is_complete(0, "plain", "k1")
    store.write_stage(0, "plain", "k1", stage_arrays(), {})
    assert store.is_complete(0, "plain", "k1")
    assert not store.is_complete(0, "plain", "k2")
    assert not store.is_complete(1, "plain", "k1")
    with pytest.raises(StoreError, match="holds key"):
        store.read_stage(0, "plain", key="k2")


def test_rewrite_under_a_new_key_replaces_the_group(store):
    store.write_stage(0, "plain", "k1", stage_arrays(seed=1), {"a": 1})
    new = stage_arrays(frames=3, seed=2)
    del new["K"]
    store.write_stage(0, "plain", "k2", new, {"b": 2})
    assert store.is_complete(0, "plain", "k2") and not store.is_complete(0, "plain", "k1")
    back = store.read_stage(0, "plain")
    assert back.keys() == new.keys()  # no array of the old group lingers
    np.testing.assert_array_equal(back["rgb"], new["rgb"])
    assert "a" not in store.stage_attrs(0, "plain")
    assert [p.name for p in (store.path / "chunks" / "0").iterdir() if p.name.startswith(".")] == []


def test_reading_a_stage_that_is_not_there_is_refused(store):
    with pytest.raises(StoreError, match="never written"):
        store.read_stage(3, "plain")
    with pytest.raises(StoreError):
        store.stage_ref(3, "plain")


def test_per_frame_reads(store):
    arrays = stage_arrays(frames=9)
    store.write_stage(2, "gaussians", "k", arrays, {})
    np.testing.assert_array_equal(store.read_array(2, "gaussians", "rgb", frames=slice(4, 6)), arrays["rgb"][4:6])
    np.testing.assert_array_equal(store.read_array(2, "gaussians", "depth", frames=8), arrays["depth"][8])
    np.testing.assert_array_equal(store.read_array(2, "gaussians", "K"), arrays["K"])


def test_stage_names_are_open_but_safe(store):
    store.write_stage(0, "my-new_stage", "k", {"x": np.zeros(3)}, {})
    assert store.stages(0) == ["my-new_stage"]
    for bad in ("../escape", ".hidden", "a/b", "", "__reserved"):
        with pytest.raises(StoreError):
            store.write_stage(0, bad, "k", {"x": np.zeros(3)}, {})
    with pytest.raises(StoreError):
        store.write_stage(0, "ok", "k", {"../x": np.zeros(3)}, {})
    with pytest.raises(StoreError):
        store.write_stage(-1, "ok", "k", {"x": np.zeros(3)}, {})


def test_stage_attrs_may_not_forge_the_mark(store):
    for forged in ({"complete": True}, {"key": "other"}):
        with pytest.raises(StoreError, match="store writes those"):
            store.write_stage(0, "plain", "k", {"x": np.zeros(3)}, forged)
    with pytest.raises(StoreError, match="JSON"):
        store.write_stage(0, "plain", "k", {"x": np.zeros(3)}, {"x": object()})


def test_sharding_keeps_one_file_per_array(store):
    # 49 frames at one frame per chunk: without sharding, 49 chunk files per array
    big = {"rgb": np.random.default_rng(0).random((49, 96, 128, 3), dtype=np.float32),
           "depth": np.random.default_rng(1).random((49, 96, 128), dtype=np.float32)}
    store.write_stage(0, "plain", "k", big, {})
    d = store.stage_dir(0, "plain")
    files = sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * len(big), files  # group zarr.json + (zarr.json + one shard) per array
    meta = json.loads((d / "rgb" / "zarr.json").read_text())
    shard = meta["chunk_grid"]["configuration"]["chunk_shape"]
    inner = meta["codecs"][0]["configuration"]["chunk_shape"]
    assert shard == [49, 96, 128, 3] and inner == [1, 96, 128, 3]  # a 147 KiB frame is its own chunk
    assert store.stage_status(0, "plain").files == len(files)


def test_gaussian_rows_are_chunked_in_blocks(store):
    p = 200_000
    g = {"means": np.random.default_rng(0).random((p, 3), dtype=np.float32),
         "opacities": np.random.default_rng(1).random((p,), dtype=np.float32)}
    store.write_stage(0, "gaussians", "k", g, {})
    meta = json.loads((store.stage_dir(0, "gaussians") / "means" / "zarr.json").read_text())
    inner = meta["codecs"][0]["configuration"]["chunk_shape"]
    assert 10_000 < inner[0] < p and inner[1] == 3  # ~1 MiB blocks, not one row per chunk
    np.testing.assert_array_equal(store.read_array(0, "gaussians", "means", frames=slice(150_000, 150_010)),
                                  g["means"][150_000:150_010])


def test_summary_lists_chunks_by_stage(store):
    store.write_stage(1, "warp", "kw" * 10, {"x": np.zeros(3)}, {"compute_seconds": 1.25})
    store.write_stage(1, "geometry", "kg", {"x": np.zeros(3)}, {})
    store.write_stage(0, "frames", "kf", {"x": np.zeros(3)}, {})
    rows = store.summary()
    assert [(r.chunk, r.stage, r.status) for r in rows] == [
        (0, "frames", "complete"), (1, "geometry", "complete"), (1, "warp", "complete")]
    assert rows[2].key == "kw" * 10 and rows[2].seconds >= 1.25 and rows[2].nbytes > 0
    assert store.chunks() == [0, 1]


def test_stage_ref_is_json_and_reads_back(store):
    arrays = {"x": np.arange(5.0)}
    ref = store.write_stage(4, "latents", "kl", arrays, {})
    again = StageRef.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again == ref == store.stage_ref(4, "latents")
    np.testing.assert_array_equal(RunStore.read_ref(again)["x"], arrays["x"])
    store.write_stage(4, "latents", "other", arrays, {})
    with pytest.raises(StoreError, match="holds key"):
        RunStore.read_ref(again)


def test_status_and_root_attrs(store):
    assert store.status == "running" and store.params == {"seed": 0} and store.run_id == "r1"
    store.set_status("complete")
    assert RunStore.open(store.path).status == "complete"
    with pytest.raises(StoreError):
        store.set_status("done")
    root = json.loads((store.path / "zarr.json").read_text())["attributes"]
    assert root["input_digest"] == "d" * 64 and root["code_version"] == "test-v1"
    assert root["created_at"] <= root["updated_at"]


def test_input_is_written_once_per_digest(store):
    inp = {"image": np.random.default_rng(0).random((8, 12, 3), dtype=np.float32),
           "K": np.tile(np.eye(3), (20, 1, 1)), "w2c": np.tile(np.eye(4), (20, 1, 1))}
    with pytest.raises(StoreError):
        store.read_input()
    assert store.write_input(inp) is True
    assert store.write_input(inp) is False
    back = store.read_input()
    for n in inp:
        np.testing.assert_array_equal(back[n], inp[n])
