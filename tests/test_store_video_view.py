"""The video of new stores is a view: each frame is stored once, in its chunk's frames group."""

import numpy as np
import pytest

from worldwarp.store import RunStore, StoreError

H, W, N = 6, 8, 30


@pytest.fixture
def store(tmp_path):
    return RunStore.create(tmp_path, "r", params={}, input_digest="d", code_version="v",
                           total_frames=N, frame_shape=(H, W))


def chunk_frames(k: int, n: int = 12) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def write_chunk(store: RunStore, k: int, start: int, skip: int, n: int = 12) -> np.ndarray:
    """A chunk of n frames whose first ``skip`` are history (already in the video): what denoise + handoff do."""
    px = chunk_frames(k, n)
    store.write_stage(k, "frames", f"k{k}", {"rgb": px.astype(np.float32) / 255})
    store.add_video_frames(start, k, skip, n - skip, lambda: px[skip:])
    return px[skip:]


def test_a_view_reads_the_frames_groups_bytes_and_holds_none(store):
    assert store.video_layout == "view"
    a = write_chunk(store, 0, 0, 0)
    b = write_chunk(store, 1, 12, 2)
    assert store.video_ranges() == [(0, 22)]
    np.testing.assert_array_equal(store.read_video(), np.concatenate([a, b]))
    np.testing.assert_array_equal(store.read_video(slice(10, 14)), np.concatenate([a, b])[10:14])
    np.testing.assert_array_equal(store.read_video(slice(0, 22, 5)), np.concatenate([a, b])[::5])
    files = sorted(p.name for p in (store.path / "video").rglob("*") if p.is_file())
    assert files == [".lock", "zarr.json"]  # no pixels of its own


def test_linking_again_gives_the_same_attrs_and_only_the_prefix_counts(store):
    write_chunk(store, 1, 12, 2)
    assert len(store.read_video()) == 0  # frames 0..12 are missing: nothing counts yet
    write_chunk(store, 0, 0, 0)
    once = (store.path / "video" / "zarr.json").read_bytes()
    write_chunk(store, 1, 12, 2)
    assert (store.path / "video" / "zarr.json").read_bytes() == once
    assert len(store.read_video()) == 22


def test_damaged_frames_are_refused_and_found_by_verify(store):
    write_chunk(store, 0, 0, 0)
    shard = next(p for p in (store.stage_dir(0, "frames") / "rgb" / "c").rglob("*") if p.is_file())
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(StoreError, match="damaged"):
        store.read_video()
    assert list(store.verify().damaged) == ["chunks/0/frames"]


def test_linking_frames_that_are_not_there_is_refused(store):
    with pytest.raises(StoreError, match="never written"):
        store.add_video_frames(0, 3, 0, 5, lambda: chunk_frames(3, 5))
    write_chunk(store, 0, 0, 0)
    with pytest.raises(StoreError, match="outside"):
        store.add_video_frames(25, 0, 0, 12, lambda: chunk_frames(0))
    with pytest.raises(StoreError, match="view"):
        store.write_video_frames(0, chunk_frames(0))


def test_rolling_back_and_forgetting_chunks(store):
    write_chunk(store, 0, 0, 0)
    write_chunk(store, 1, 12, 2)
    store.drop_chunk(1, 12)
    assert store.video_ranges() == [(0, 12)] and 1 not in store.chunks()
    write_chunk(store, 1, 12, 2)
    store.forget_video_chunks({0})
    assert store.video_ranges() == [(12, 22)] and len(store.read_video()) == 0
