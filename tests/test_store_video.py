"""The run's pixel video (stores made before video views): chunks write their frames at fixed places,
idempotently; only marked frames count. The view layout of new stores: tests/test_store_video_view.py."""

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore

import worldwarp.store.video as video
from worldwarp.store import RunStore, StoreError

H, W, N = 6, 8, 30


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "VIDEO_SHARD_BYTES", 4 * H * W * 3)  # 4-frame shards: writes straddle shards
    return RunStore.create(tmp_path, "r", params={}, input_digest="d", code_version="v",
                           total_frames=N, frame_shape=(H, W), video_layout=video.PIXELS)


def frames(start, stop, seed=0):
    rng = np.random.default_rng(seed + start)
    return rng.integers(1, 256, (stop - start, H, W, 3), dtype=np.uint8)


def files(store):
    d = store.path / "video"
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file() and p.name != ".lock"}


def test_new_video_is_empty_and_presized(store):
    assert store.read_video().shape == (0, H, W, 3)
    assert store.video_ranges() == []


def test_appending_the_same_chunk_twice_gives_the_same_result(store):
    store.write_video_frames(0, frames(0, 9))
    store.write_video_frames(9, frames(9, 15))
    once = files(store)
    store.write_video_frames(9, frames(9, 15))
    store.write_video_frames(0, frames(0, 9))
    assert files(store) == once
    assert store.video_ranges() == [(0, 15)]
    np.testing.assert_array_equal(store.read_video(), np.concatenate([frames(0, 9), frames(9, 15)]))


def test_only_the_gapless_prefix_is_the_video(store):
    store.write_video_frames(9, frames(9, 15))
    assert len(store.read_video()) == 0
    store.write_video_frames(0, frames(0, 9))
    store.write_video_frames(20, frames(20, 30))
    assert store.video_ranges() == [(0, 15), (20, 30)]
    assert len(store.read_video()) == 15
    np.testing.assert_array_equal(store.read_video(frames=slice(3, 5)), frames(0, 9)[3:5])


def test_frames_written_without_their_mark_do_not_count(store):
    store.write_video_frames(0, frames(0, 5))
    # what a writer killed between the data and the mark leaves: data, no range
    arr = zarr.open_array(LocalStore(store.path / "video" / "rgb"), mode="r+", zarr_format=3)
    arr[5:10] = frames(5, 10)
    assert store.video_ranges() == [(0, 5)]
    # the write also changed a shard holding finished frames, without recording its new checksum:
    # reads refuse it as damaged (resume rebuilds the video) rather than trust unrecorded bytes
    with pytest.raises(StoreError, match="damaged"):
        store.read_video()
    store.write_video_frames(5, frames(5, 10))
    assert len(store.read_video()) == 10


def test_a_rewrite_of_one_chunk_leaves_its_neighbours(store):
    store.write_video_frames(0, frames(0, 9))
    store.write_video_frames(9, frames(9, 15))
    store.write_video_frames(9, frames(9, 15, seed=100))  # the chunk was recomputed differently
    out = store.read_video()
    np.testing.assert_array_equal(out[:9], frames(0, 9))
    np.testing.assert_array_equal(out[9:], frames(9, 15, seed=100))


def test_bad_frames_are_refused(store):
    with pytest.raises(StoreError, match="uint8"):
        store.write_video_frames(0, frames(0, 3).astype(np.float32))
    with pytest.raises(StoreError, match="uint8"):
        store.write_video_frames(0, np.zeros((3, H + 1, W, 3), np.uint8))
    with pytest.raises(StoreError, match="outside"):
        store.write_video_frames(N - 2, frames(0, 3))
    assert store.video_ranges() == []


def test_video_shards_bound_the_file_count(store):
    store.write_video_frames(0, frames(0, N))
    shards = [n for n in files(store) if n.startswith("rgb/c/")]
    assert len(shards) == N // 4 + 1  # 4-frame shards, not one file per frame
