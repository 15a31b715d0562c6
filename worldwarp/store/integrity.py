"""Checksums of stored files: what lets a store tell a finished group from a damaged one.

A completed group's mark holds a manifest: ``{relative path: [size, crc32c]}`` of every file under
it except its own zarr.json (which holds the mark). Reads check that the files of the arrays they
open are there with their recorded sizes (a stat per file), so a deleted chunk file is never read
as its fill value; ``verify`` also recomputes each file's crc32c (reads every byte once).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import google_crc32c

from .errors import StoreError

META = "zarr.json"
BLOCK = 8 << 20
Manifest = dict[str, list[int]]


def file_crc(path: Path) -> int:
    c = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            c.update(block)
    return int.from_bytes(c.digest(), "big")


def _walk(root: Path) -> Iterable[str]:
    """Relative paths of the files under ``root``, skipping hidden entries (locks, zarr's temp files)."""
    for d, dirs, names in os.walk(root):
        dirs[:] = sorted(n for n in dirs if not n.startswith("."))
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(d, n), root)
            if not n.startswith(".") and not n.endswith(".partial") and rel != META:
                yield rel.replace(os.sep, "/")


def manifest(root: Path, only: Iterable[str] | None = None) -> Manifest:
    """Size and crc32c of every file under ``root`` (or of the relative paths ``only``)."""
    out: Manifest = {}
    for rel in (_walk(root) if only is None else only):
        p = root / rel
        if p.is_file():
            out[rel] = [p.stat().st_size, file_crc(p)]
    return out


def problems(root: Path, files: Mapping[str, list[int]], deep: bool = True,
             prefix: str = "", extras: bool = True) -> list[str]:
    """What differs between the files under ``root`` and the manifest (restricted to paths under ``prefix``).

    ``deep`` recomputes checksums; otherwise only presence and sizes are checked.
    """
    out = []
    for rel, (size, crc) in files.items():
        if not rel.startswith(prefix):
            continue
        p = root / rel
        try:
            have = p.stat().st_size
        except FileNotFoundError:
            out.append(f"{rel} is missing")
            continue
        if have != size:
            out.append(f"{rel} has {have} bytes, {size} were written")
        elif deep and file_crc(p) != crc:
            out.append(f"{rel} has a different checksum than was written")
    if extras:
        out += [f"{rel} was not written with it" for rel in _walk(root / prefix if prefix else root)
                if (prefix + rel if prefix else rel) not in files]
    return out


def require_intact(root: Path, files: Mapping[str, list[int]] | None, prefix: str = "") -> None:
    """Refuse to read from a group whose recorded files (under ``prefix``) are missing or resized."""
    if files is None:
        return  # written before manifests existed: nothing to check against
    bad = problems(root, files, deep=False, prefix=prefix, extras=False)
    if bad:
        raise StoreError(f"{root}: damaged ({bad[0]}); run `worldwarp resume` on the store to repair it")


# ---- a node's own metadata ------------------------------------------------------------------
# A group's zarr.json cannot list its own checksum in its manifest, so its attrs carry a seal: the crc32c of
# the rest of them. A garbled, truncated or edited zarr.json then fails the seal (or fails to parse) instead of
# reading as "not finished" or as other attrs. Stores written before seals have none: listed as unchecked.
SEAL = "seal"


def seal(attrs: Mapping[str, Any]) -> str:
    body = json.dumps({k: v for k, v in attrs.items() if k != SEAL}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return f"{google_crc32c.value(body.encode('utf-8')):08x}"


def sealed(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` as JSON reads them back, with their seal."""
    plain = json.loads(json.dumps(dict(attrs)))
    plain.pop(SEAL, None)
    return {**plain, SEAL: seal(plain)}


def seal_problem(attrs: Mapping[str, Any]) -> str | None:
    """None when the seal matches or there is none (older stores); else what is wrong."""
    if SEAL not in attrs:
        return None
    return None if attrs[SEAL] == seal(attrs) else "zarr.json changed since it was written (its seal does not match)"
