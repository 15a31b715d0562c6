"""One published Zarr group of arrays: written whole into a temporary directory, read back safely.

Readers parse zarr.json themselves and check it before zarr touches an array, so a store can only
ever decode numeric data with byte-level codecs: no pickle, no code named by the store.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from .atomic import publish, temp_sibling
from .encoding import array_kwargs, check_array_meta, check_dtype
from .errors import StoreError
from .integrity import Manifest, require_intact, sealed
from .keys import check_name
from .precision import ENCODINGS, decode

META = "zarr.json"


def read_meta(path: Path) -> dict[str, Any] | None:
    """The node's zarr.json as plain JSON, or None when there is no node."""
    try:
        with open(path / META, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError, NotADirectoryError) as e:
        raise StoreError(f"{path}: unreadable {META} ({type(e).__name__})") from None


def node_attrs(path: Path) -> dict[str, Any] | None:
    meta = read_meta(path)
    return None if meta is None else dict(meta.get("attributes") or {})


def write_group_meta(path: Path, attrs: Mapping[str, Any]) -> None:
    """Create or overwrite a group's zarr.json, sealed (zarr's LocalStore replaces the file atomically)."""
    zarr.open_group(LocalStore(path), mode="a", zarr_format=3).attrs.put(sealed(attrs))


def ensure_group(path: Path) -> None:
    if read_meta(path) is None:
        zarr.open_group(LocalStore(path), mode="a", zarr_format=3)


def as_arrays(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for name, a in arrays.items():
        check_name(name, "array")
        a = np.asarray(a)
        check_dtype(a, name)
        out[name] = a
    return out


def write_published(final: Path, arrays: Mapping[str, Any], attrs_before: Mapping[str, Any],
                    mark: Callable[[Path], Mapping[str, Any]], precision: Mapping[str, str] | None = None) -> None:
    """Write every array into a temporary sibling, add ``mark(tmp)`` to its attrs, then publish.

    The mark is the last thing written and goes in with the rename, so no reader can see a marked
    group with an array missing, and a mark never lands on a directory another writer made.
    ``precision`` names the arrays already encoded by ``precision.encode``; readers decode them.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    try:
        group = zarr.create_group(LocalStore(tmp), zarr_format=3, attributes=dict(attrs_before))
        for name, a in arrays.items():
            how = (precision or {}).get(name)
            arr = group.create_array(name, **array_kwargs(a), attributes={"precision": how} if how else None)
            arr[...] = a
        group.attrs.update(dict(mark(tmp)))
        group.attrs.put(sealed(dict(group.attrs)))  # the seal covers the mark too: the last write
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # SIGKILL skips this; collect() removes it later
        raise


def array_names(group: Path) -> list[str]:
    names = []
    for p in sorted(group.iterdir()):
        if p.is_dir() and not p.name.startswith(".") and (p / META).is_file():
            names.append(p.name)
    return names


def open_array(path: Path) -> zarr.Array:
    meta = read_meta(path)
    if meta is None:
        raise StoreError(f"{path}: no such array")
    check_array_meta(meta, str(path))
    return zarr.open_array(LocalStore(path, read_only=True), mode="r", zarr_format=3)


def read_checked(group: Path, name: str, files: Manifest | None, sel: Any = Ellipsis, raw: bool = False) -> np.ndarray:
    """``group/name[sel]``, refused when the array's recorded files are missing or resized, and with
    zarr's decode errors on damaged bytes (crc32c of a shard index, blosc) turned into a StoreError.
    ``raw``: the stored values, not decoded by their precision (uint8 frames stay uint8)."""
    arr = open_array(group / name)  # refuses unsafe metadata first, whatever else is wrong
    require_intact(group, files, f"{name}/")
    how = (read_meta(group / name) or {}).get("attributes", {}).get("precision")
    if how is not None and how not in ENCODINGS:
        raise StoreError(f"{group / name}: unknown precision {how!r}")
    try:
        return np.asarray(arr[sel]) if raw else decode(np.asarray(arr[sel]), how)
    except StoreError:
        raise
    except (ValueError, RuntimeError, OSError, IndexError) as e:
        raise StoreError(f"{group / name}: damaged ({type(e).__name__}: {str(e)[:80]}); "
                         "run `worldwarp resume` on the store to repair it") from None


def read_arrays(group: Path, files: Manifest | None = None) -> dict[str, np.ndarray]:
    names = array_names(group)
    if files is not None:  # an array directory removed whole must not read as "no such array"
        names = sorted({*names, *(rel.split("/", 1)[0] for rel in files)})
    return {n: read_checked(group, n, files) for n in names}
