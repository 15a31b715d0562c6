"""Arrays held by reference (worldwarp/store/links.py): the history frames are stored once."""

import numpy as np
import pytest

from worldwarp.store import ArrayLink, RunStore, StoreError
from worldwarp.store.groups import write_group_meta, node_attrs


@pytest.fixture
def store(tmp_path):
    s = RunStore.create(tmp_path, "r", params={}, input_digest="d", code_version="v")
    frames = np.random.default_rng(0).integers(0, 256, (9, 6, 8, 3)).astype(np.float32) / 255
    s.write_stage(0, "frames", "kf", {"rgb": frames})
    s.write_stage(0, "handoff", "kh", {"rgb": ArrayLink(0, "frames", "rgb", 6, 9), "K": np.eye(3)[None].repeat(3, 0)})
    s.write_stage(1, "geometry", "kg", {"rgb": ArrayLink(0, "handoff", "rgb", 0, 3), "depth": np.ones((3, 6, 8))})
    return s


def test_links_read_as_the_frames_they_point_to_and_hold_no_bytes(store):
    frames = store.read_stage(0, "frames")["rgb"]
    np.testing.assert_array_equal(store.read_stage(0, "handoff")["rgb"], frames[6:])
    np.testing.assert_array_equal(store.read_stage(1, "geometry")["rgb"], frames[6:])  # a link to a link
    np.testing.assert_array_equal(store.read_array(1, "geometry", "rgb", -1), frames[8])
    assert sorted(store.read_stage(1, "geometry")) == ["depth", "rgb"]
    assert store.stage_attrs(0, "handoff")["arrays"] == ["K", "rgb"]
    assert not (store.stage_dir(0, "handoff") / "rgb").exists()
    assert store.verify().ok


def test_a_link_to_nothing_is_refused_when_written(store):
    with pytest.raises(StoreError, match="never written"):
        store.write_stage(2, "handoff", "k", {"rgb": ArrayLink(2, "frames", "rgb", 0, 3)})
    assert not store.stage_status(2, "handoff").exists


def test_damaged_target_is_damage_for_whoever_reads_through_the_link(store):
    shard = next(p for p in (store.stage_dir(0, "frames") / "rgb").rglob("*") if p.is_file() and p.name != "zarr.json")
    shard.write_bytes(shard.read_bytes()[:-5])
    with pytest.raises(StoreError, match="damaged"):
        store.read_stage(1, "geometry")
    assert list(store.verify().damaged) == ["chunks/0/frames"]  # heal drops it and everything downstream


def test_a_link_past_the_target_or_unreadable_is_one_error(store):
    d = store.stage_dir(0, "handoff")
    attrs = node_attrs(d)
    write_group_meta(d, {**attrs, "links": {"rgb": {**attrs["links"]["rgb"], "stop": 12}}})
    with pytest.raises(StoreError, match="no frames 6..12"):
        store.read_stage(0, "handoff")
    write_group_meta(d, {**attrs, "links": {"rgb": {"chunk": "x"}}})
    with pytest.raises(StoreError, match="unreadable array link"):
        store.read_array(0, "handoff", "rgb")
