"""The run's video: a *view* of the chunks' frames groups (new stores), or one pre-sized uint8 array that
chunks write their new frames into (stores made before 2026-11-25, still read and written as they were).

A view holds no pixels: its attrs list, per finished frame range, the chunk whose ``frames`` group holds them
and where (``sources``); ``RunStore.read_video`` reads them from there, through that group's own integrity
checks. Each frame is then stored once (docs/STORE.md): at full size the pixel copy was a quarter of the store.

Frames land at fixed positions, so writing the same chunk twice gives the same bytes. The list of
finished frame ranges is updated only after the frames are written. Shards hold VIDEO_SHARD_BYTES
of frames: a chunk's write rewrites at most the two shards it straddles, not the whole video.
The group's attrs also hold the size and crc32c of every file (``files``), updated with ``done``
for the shards a write touched, so a truncated or missing shard is found (see integrity.py).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr
from zarr.storage import LocalStore

from .encoding import compressor, rows_per_block
from .errors import StoreError
from .groups import node_attrs, open_array, read_checked
from .integrity import manifest, sealed
from .integrity import problems as file_problems

VIDEO_SHARD_BYTES = 64 << 20
ARRAY = "rgb"
VIEW = "view"
PIXELS = "pixels"
FRAMES = "frames"  # the stage group whose rgb a view reads


def create(path: Path, total_frames: int, frame_shape: tuple[int, ...], layout: str = PIXELS) -> None:
    if total_frames < 1 or len(frame_shape) not in (2, 3):
        raise StoreError(f"video needs total_frames >= 1 and frame_shape (H, W[, C]), got {total_frames}, {frame_shape}")
    shape = (int(total_frames), *map(int, frame_shape), *(() if len(frame_shape) == 3 else (3,)))
    if layout == VIEW:
        zarr.create_group(LocalStore(path), zarr_format=3,
                          attributes=sealed({"layout": VIEW, "frames": shape[0], "shape": list(shape), "sources": []}))
        return
    if layout != PIXELS:
        raise StoreError(f"video layout must be {VIEW!r} or {PIXELS!r}, got {layout!r}")
    frame_bytes = int(np.prod(shape[1:]))
    per_shard = min(shape[0], rows_per_block(frame_bytes, VIDEO_SHARD_BYTES))
    group = zarr.create_group(LocalStore(path), zarr_format=3, attributes={"frames": shape[0], "done": []})
    group.create_array(ARRAY, shape=shape, dtype="uint8", chunks=(1, *shape[1:]), shards=(per_shard, *shape[1:]),
                       compressors=compressor(np.dtype("uint8")), fill_value=0)
    _put(path, {"files": manifest(path)})


def is_view(path: Path) -> bool:
    return (node_attrs(path) or {}).get("layout") == VIEW


def shape(path: Path) -> tuple[int, ...] | None:
    attrs = node_attrs(path)
    if attrs is not None and attrs.get("layout") == VIEW:
        return tuple(int(n) for n in attrs["shape"])
    return None if node_attrs(path / ARRAY) is None else tuple(open_array(path / ARRAY).shape)


def sources(path: Path) -> list[tuple[int, int, int, int]]:
    """A view's (start, stop, chunk, offset): frames [start, stop) are chunk's frames/rgb[offset:offset + n]."""
    return _sources(node_attrs(path) or {})


def _sources(attrs: dict) -> list[tuple[int, int, int, int]]:
    return [(int(s["start"]), int(s["stop"]), int(s["chunk"]), int(s["offset"])) for s in attrs.get("sources", [])]


def _put(path: Path, changes: dict) -> None:
    """Change the video's attrs, sealed (integrity.py); the caller holds the video's lock (or owns a new video)."""
    group = zarr.open_group(LocalStore(path), mode="r+", zarr_format=3)
    group.attrs.put(sealed({**dict(group.attrs), **changes}))


def _put_sources(path: Path, srcs: list[tuple[int, int, int, int]]) -> None:
    """Replace a view's sources (its finished ranges are theirs); the caller holds the video's lock."""
    _put(path, {"sources": [dict(start=a, stop=b, chunk=c, offset=o) for a, b, c, o in sorted(srcs)]})


def link(path: Path, start: int, stop: int, chunk: int, offset: int) -> None:
    """Record that frames [start, stop) of a view are chunk's frames [offset, offset + stop - start).
    Linking the same range again replaces its entry: writing a chunk twice gives the same attrs."""
    total = shape(path)
    if total is None or not is_view(path):
        raise StoreError(f"{path}: not a video view")
    if not 0 <= start < stop <= total[0] or offset < 0:
        raise StoreError(f"video frames {start}..{stop} fall outside 0..{total[0]}")
    with _locked(path):
        kept = [s for s in sources(path) if s[1] <= start or s[0] >= stop]
        _put_sources(path, [*kept, (int(start), int(stop), int(chunk), int(offset))])


def forget_chunks(path: Path, chunks: set[int]) -> None:
    """A view forgets the frames of these chunks (their frames groups are being recomputed)."""
    if not is_view(path) or not chunks:
        return
    with _locked(path):
        _put_sources(path, [s for s in sources(path) if s[2] not in chunks])


def done_ranges(path: Path) -> list[tuple[int, int]]:
    attrs = node_attrs(path) or {}
    if attrs.get("layout") == VIEW:  # a view's finished ranges are its sources'
        return [(a, b) for a, b, _, _ in _sources(attrs)]
    return [(int(a), int(b)) for a, b in attrs.get("done", [])]


def merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # partial shard writes are read-modify-write: two writers at once could drop each other's frames
    with open(path / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write(path: Path, start: int, frames: np.ndarray) -> None:
    frames = np.asarray(frames)
    arr_shape = shape(path)
    if arr_shape is None:
        raise StoreError(f"{path}: this store has no video (created without total_frames/frame_shape)")
    if is_view(path):
        raise StoreError(f"{path}: the video is a view of the chunks' frames; link them (video.link), don't copy them")
    if frames.dtype != np.uint8 or frames.shape[1:] != arr_shape[1:]:
        raise StoreError(f"video frames must be uint8 of shape (n, {', '.join(map(str, arr_shape[1:]))}), "
                         f"got {frames.dtype} {frames.shape}")
    stop = start + len(frames)
    if start < 0 or stop > arr_shape[0]:
        raise StoreError(f"video frames {start}..{stop} fall outside 0..{arr_shape[0]}")
    with _locked(path):
        arr = zarr.open_array(LocalStore(path / ARRAY), mode="r+", zarr_format=3)
        arr[start:stop] = frames
        touched = _shard_files(arr, start, stop)
        old = _files(path)
        files = manifest(path) if old is None else {rel: v for rel, v in old.items() if rel not in touched}
        # one attrs write: the ranges and the files' checksums change together
        _put(path, {"done": [list(r) for r in merge(done_ranges(path) + [(start, stop)])],
                    "files": dict(sorted({**files, **manifest(path, touched)}.items()))})


def truncate(path: Path, stop: int) -> None:
    """Forget every frame from ``stop`` on: only the finished ranges shrink (the shards keep their bytes and
    checksums), so a later write of the same frames lands exactly where the forgotten ones were."""
    with _locked(path):
        if is_view(path):
            _put_sources(path, [(a, min(b, stop), c, o) for a, b, c, o in sources(path) if a < stop])
            return
        kept = [(a, min(b, stop)) for a, b in done_ranges(path) if a < stop]
        _put(path, {"done": [list(r) for r in merge(kept)]})


def _shard_files(arr: zarr.Array, start: int, stop: int) -> list[str]:
    per = (arr.shards or arr.chunks)[0]
    rest = (0,) * (arr.ndim - 1)
    return [f"{ARRAY}/{arr.metadata.encode_chunk_key((i, *rest))}" for i in range(start // per, (stop - 1) // per + 1)]


def _files(path: Path) -> dict[str, list[int]] | None:
    files = (node_attrs(path) or {}).get("files")
    return None if files is None else dict(files)


def problems(path: Path, deep: bool = True) -> list[str] | None:
    """What differs from the recorded files (None for a video written before they were recorded). A view has
    no files of its own: its frames are checked with the chunks' frames groups."""
    if is_view(path):
        return []
    files = _files(path)
    return None if files is None else file_problems(path, files, deep)


def finished(path: Path) -> int:
    """How many frames from frame 0 on are written without a gap."""
    ranges = merge(done_ranges(path))
    return ranges[0][1] if ranges and ranges[0][0] == 0 else 0


def prefix_slice(path: Path, frames: slice) -> tuple[int, int, int]:
    """``frames`` within the finished prefix, as (start, stop, step)."""
    start, stop, step = frames.indices(finished(path))
    if step < 0:
        raise StoreError("video slices must step forward")
    return start, max(start, stop), step


def read(path: Path, frames: slice = slice(None)) -> np.ndarray:
    """The finished prefix of a pixel video, or a slice of that prefix (a view: ``RunStore.read_video``)."""
    if is_view(path):
        raise StoreError(f"{path}: the video is a view of the chunks' frames; read it with RunStore.read_video")
    start, stop, step = prefix_slice(path, frames)
    files = _files(path)
    if files is not None and stop > start:  # check only the shards read: a write killed elsewhere is no concern here
        arr = open_array(path / ARRAY)
        files = {rel: v for rel, v in files.items() if rel in _shard_files(arr, start, stop)}
    return read_checked(path, ARRAY, files, slice(start, stop))[::step]
