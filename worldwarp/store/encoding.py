"""How each array is laid out on disk, and which on-disk metadata a reader accepts.

Layout: arrays are read along their first axis (frames, or Gaussian rows), so chunks split only
that axis. A row of FRAME_BYTES or more (any image-like frame) is one chunk: reading a frame
decodes just that frame. Smaller rows (cameras, Gaussians, tiny test frames) are batched into
chunks of about CHUNK_BYTES, so no chunk is a few bytes of compressor overhead. Chunks smaller than
CHUNK_BYTES are packed into shards of up to SHARD_BYTES, so a stage's small-frame array is one file
rather than dozens (DVC hashes every file). Chunks of CHUNK_BYTES or more (full-size frames) are not
sharded: zarr decodes a shard's inner chunks one after another, which measured 5x slower to read and
1.5x slower to write for a 49-frame 480x720 float array than plain per-frame chunk files.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from zarr.codecs import BloscCodec

from .errors import StoreError

FRAME_BYTES = 16 << 10
CHUNK_BYTES = 1 << 20
SHARD_BYTES = 256 << 20

# Zarr v3 data types a store may hold: bool and fixed-size numbers. No object, string or void
# types, whose codecs (vlen, pickle) could run code or need it.
SAFE_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
})
# Codecs whose decoding is plain byte transforms; anything else (numcodecs.pickle...) is refused.
SAFE_CODECS = frozenset({"bytes", "blosc", "zstd", "gzip", "crc32c", "transpose", "sharding_indexed"})


def check_dtype(a: np.ndarray, name: str) -> None:
    if a.dtype.kind not in "biufc":
        raise StoreError(f"array {name!r} has dtype {a.dtype}: only bool and numeric arrays are stored")


def fill_value(dtype: np.dtype) -> Any:
    # NaN marks "never written" for floats, so a hole left by a crash cannot pass for data
    if dtype.kind in "fc":
        return float("nan")
    return False if dtype.kind == "b" else 0


def compressor(dtype: np.dtype) -> BloscCodec:
    # zstd level 3 + byte shuffle: on a full-size chunk (docs/STORE.md, precision) 31 % smaller than lz4 level 5
    # and no slower to write; shuffle is moot for 1-byte types
    return BloscCodec(cname="zstd", clevel=3, shuffle="shuffle" if dtype.itemsize > 1 else "noshuffle")


def rows_per_block(row_bytes: int, target: int) -> int:
    return max(1, target // max(1, row_bytes))


def chunk_shards(shape: tuple[int, ...], dtype: np.dtype) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(chunks, shards) splitting only the first axis; shards None for 0-d arrays and large chunks."""
    if len(shape) == 0:
        return (), None
    n, rest = shape[0], tuple(max(1, s) for s in shape[1:])
    row = dtype.itemsize * math.prod(rest)
    chunk = 1 if row >= FRAME_BYTES else min(max(1, n), rows_per_block(row, CHUNK_BYTES))
    if row * chunk >= CHUNK_BYTES:
        return (chunk, *rest), None
    per_shard = chunk * rows_per_block(row * chunk, SHARD_BYTES)
    shard = min(per_shard, chunk * math.ceil(max(1, n) / chunk))
    return (chunk, *rest), (shard, *rest)


def array_kwargs(a: np.ndarray) -> dict[str, Any]:
    chunks, shards = chunk_shards(a.shape, a.dtype)
    return {"shape": a.shape, "dtype": a.dtype, "chunks": chunks, "shards": shards,
            "compressors": compressor(a.dtype), "fill_value": fill_value(a.dtype)}


def _check_codecs(codecs: Any, where: str) -> None:
    if not isinstance(codecs, list):
        raise StoreError(f"{where}: malformed codec list")
    for c in codecs:
        name = c.get("name") if isinstance(c, dict) else c
        if not isinstance(name, str) or name not in SAFE_CODECS:
            raise StoreError(f"{where}: codec {name!r} is not allowed in a run store")
        conf = c.get("configuration", {}) if isinstance(c, dict) else {}
        if not isinstance(conf, dict):
            raise StoreError(f"{where}: malformed configuration of codec {name!r}")
        for inner in ("codecs", "index_codecs"):
            if inner in conf:
                _check_codecs(conf[inner], where)


def check_array_meta(meta: dict[str, Any], where: str) -> None:
    """Refuse anything but a plain Zarr v3 numeric array before zarr is allowed to open it."""
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
        raise StoreError(f"{where}: not a Zarr v3 array")
    dtype = meta.get("data_type")
    if not isinstance(dtype, str) or dtype not in SAFE_DTYPES:
        raise StoreError(f"{where}: data type {dtype!r} is not allowed (numeric only)")
    if meta.get("storage_transformers"):
        raise StoreError(f"{where}: storage transformers are not allowed")
    _check_codecs(meta.get("codecs", []), where)
