"""Reading a store runs no code from it: no pickle, numeric dtypes and byte codecs only."""

import json
import pickle

import numpy as np
import pytest

from worldwarp.store import RunStore, StoreError


@pytest.fixture
def store(tmp_path):
    s = RunStore.create(tmp_path, "r", params={"a": 1}, input_digest="d", code_version="v",
                        total_frames=4, frame_shape=(2, 2))
    s.write_input({"image": np.zeros((2, 2, 3), np.float32)})
    s.write_stage(0, "warp", "k", {"rgb": np.ones((4, 2, 2, 3), np.float32), "mask": np.ones((4, 2, 2), bool)}, {})
    s.write_stage(1, "frames", "k", {"rgb": np.ones((4, 2, 2, 3), np.float32)}, {})
    s.add_video_frames(0, 1, 0, 4, lambda: np.ones((4, 2, 2, 3), np.uint8))
    return s


def test_reading_everything_never_unpickles(store, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used while reading a store")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    s = RunStore.open(store.path)
    s.read_input(), s.read_stage(0, "warp"), s.read_video(), s.summary(), s.stage_attrs(0, "warp")
    names = [p.name for p in store.path.rglob("*") if p.is_file()]
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".npy", ".npz", ".py"))]


@pytest.mark.parametrize("bad", [np.array([{"a": 1}], dtype=object), np.array(["text"]), np.array([b"x"]),
                                 np.zeros(2, dtype=[("a", "f4")])])
def test_non_numeric_arrays_are_refused_on_write(store, bad):
    with pytest.raises(StoreError, match="dtype"):
        store.write_stage(0, "frames", "k", {"x": bad}, {})
    assert not store.stage_status(0, "frames").exists


@pytest.mark.parametrize("edit", [
    lambda m: m.update(data_type="string"),
    lambda m: m.update(data_type={"name": "numpy.object"}),
    lambda m: m["codecs"][0]["configuration"]["codecs"].insert(0, {"name": "numcodecs.pickle"}),
    lambda m: m.update(codecs=[{"name": "numcodecs.pickle"}]),
    lambda m: m.update(storage_transformers=[{"name": "anything"}]),
])
def test_a_tampered_array_is_refused_before_zarr_opens_it(store, edit):
    path = store.stage_dir(0, "warp") / "rgb" / "zarr.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="not allowed"):
        store.read_stage(0, "warp")
    with pytest.raises(StoreError, match="not allowed"):
        store.read_array(0, "warp", "rgb", frames=0)
