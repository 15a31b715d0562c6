"""A run store's copy on shared storage (any fsspec URL: s3://, gs://, memory://, file://), kept group by group.

Stages write into the local store as always (atomic renames, hard links, locks: all local-disk things). After
each stage its finished groups are copied to ``<url>/runs/<run-id>.zarr`` with the same layout. An object
store has no rename, so the commit protocol there is ordering: a group's array files go up first and its own
``zarr.json``, which holds the completion mark, goes up last; a group being replaced loses its ``zarr.json``
first. Readers (``pull``) trust only groups whose mark is there, exactly as local readers do.

A resume on any machine pulls the marked groups into its local store before opening it. The video goes up
only when the run is complete (a resume elsewhere rebuilds it from the chunks' frames, ``stages.runner.heal``),
so a half-copied video is never trusted. The bytes are the local store's bytes, so a resume elsewhere is bit-identical to one here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from .atomic import publish, temp_sibling
from .errors import StoreError
from .groups import META

SKIP = (".lock", ".partial")  # the video's writer lock and zarr's own temporaries never leave the machine


def _fs(url: str):
    import fsspec  # a run without a shared copy never imports it

    try:
        # a fresh instance: fsspec's cache keys on arguments, not on the AWS_* environment the endpoint comes from
        return fsspec.core.url_to_fs(url, skip_instance_cache=True)
    except (ImportError, ValueError) as e:
        raise StoreError(f"{url}: cannot open this storage ({str(e).splitlines()[0][:120]})") from None


class RemoteStore:
    """The shared copy of one run store: ``url`` is ``<remote root>/runs/<run-id>.zarr``."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = _fs(self.url)

    def _key(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def meta_bytes(self, rel: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._key(f"{rel}/{META}" if rel else META))
        except FileNotFoundError:
            return None

    def exists(self) -> bool:
        return self.meta_bytes("") is not None

    # ---- writing (this machine -> shared) --------------------------------------------------

    def push_meta(self, local: Path, rel: str = "") -> None:
        """Copy a plain node's zarr.json (the root's status and params, a chunk's group)."""
        body = (local / rel / META).read_bytes()
        if self.meta_bytes(rel) != body:
            self.fs.pipe_file(self._key(f"{rel}/{META}" if rel else META), body)

    def push_group(self, local: Path, rel: str, marked: bool = True) -> bool:
        """Copy one group: its files first, its zarr.json last. Skipped (False) when the shared copy already
        holds this very zarr.json, or, with ``marked``, when the local group is not complete."""
        src = local / rel
        body = (src / META).read_bytes()
        if marked and json.loads(body).get("attributes", {}).get("complete") is not True:
            return False
        if self.meta_bytes(rel) == body:
            return False
        self._remove(rel)
        files = [p for p in _files(src) if p != src / META]
        if files:
            self.fs.put([str(p) for p in files], [self._key(f"{rel}/{p.relative_to(src).as_posix()}") for p in files])
        self.fs.pipe_file(self._key(f"{rel}/{META}"), body)  # the mark, last
        return True

    def remove_group(self, rel: str) -> None:
        """Take a group out of the shared copy (the local store dropped it)."""
        self._remove(rel)

    def drop_chunk(self, chunk: int) -> None:
        """Roll back chunk ``chunk`` here (the Studio's roll back): the video first (it is only ever here whole,
        for a complete run), then each of the chunk's groups, unmarked before its files go, then the rest."""
        self.fs.invalidate_cache()
        self._remove("video")
        rel = f"chunks/{int(chunk)}"
        for meta in sorted(self.fs.glob(self._key(f"{rel}/*/{META}"))):
            self._remove(meta[len(self.root) + 1:-len(META) - 1])
        if self.fs.exists(self._key(rel)):
            self.fs.rm(self._key(rel), recursive=True)

    def _remove(self, rel: str) -> None:
        """Unmark first, then delete: a reader never trusts a group whose files are going."""
        key = self._key(rel)
        try:
            self.fs.rm_file(f"{key}/{META}")
        except FileNotFoundError:
            return
        if self.fs.exists(key):
            self.fs.rm(key, recursive=True)

    # ---- reading (shared -> this machine) --------------------------------------------------

    def marked_groups(self) -> list[str]:
        """Every group of the shared copy whose completion mark is there: input, chunks/<k>/<stage>."""
        rels = ["input"] if self._complete("input") else []
        for meta in sorted(self.fs.glob(self._key(f"chunks/*/*/{META}"))):
            rel = meta[len(self.root) + 1:-len(META) - 1]
            if self._complete(rel):
                rels.append(rel)
        return rels

    def strays(self) -> list[str]:
        """Files of the shared copy outside every node a run writes (a group's own files are its manifest's business)."""
        self.fs.invalidate_cache()
        out = []
        for key in self.fs.find(self.root):
            rel = key[len(self.root) + 1:]
            if rel and _is_stray(rel.split("/")) and not any(p.startswith(".") for p in rel.split("/")):
                out.append(rel)
        return out

    def remove_strays(self) -> list[str]:
        """Delete the files that ``strays`` lists (a finished run's shared copy holds nothing a run does not write)."""
        gone = self.strays()
        for rel in gone:
            self.fs.rm_file(self._key(rel))
        return gone

    def _complete(self, rel: str) -> bool:
        body = self.meta_bytes(rel)
        try:
            return body is not None and json.loads(body).get("attributes", {}).get("complete") is True
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False

    def pull(self, local: Path) -> list[str]:
        """Bring every marked group the local store lacks (or holds in another version) to ``local``; the
        local store is created from the shared root node when missing. Returns the groups copied."""
        self.fs.invalidate_cache()  # listings cached earlier in this process may predate other machines' writes
        if not self.exists():
            return []
        if not (local / META).is_file():
            for rel in ("", "chunks"):
                _write_atomic(local / rel / META, self.meta_bytes(rel) or b"")
        got = []
        # the video goes up whole once the run is complete (its zarr.json last), so one that is there is whole
        video = ["video"] if self.meta_bytes("video") is not None else []
        for rel in [*self.marked_groups(), *video]:
            body = self.meta_bytes(rel)
            mine = local / rel / META
            if mine.is_file() and mine.read_bytes() == body:
                continue
            self._get_group(rel, local / rel, body or b"")
            got.append(rel)
        return got

    def _get_group(self, rel: str, final: Path, body: bytes) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        up = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if up and not (final.parent / META).is_file():  # chunks/<k> as a plain group, as a local writer makes it
            _write_atomic(final.parent / META, self.meta_bytes(up) or b"")
        tmp = temp_sibling(final)
        try:
            for key in self.fs.find(self._key(rel)):
                sub = key[len(self._key(rel)) + 1:]
                if sub != META:
                    dest = tmp / sub
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    self.fs.get_file(key, str(dest))
            if (self.meta_bytes(rel) or b"") != body:  # bytes: a garbled zarr.json is copied as it is, for verify
                raise StoreError(f"{self.url}: group {rel} changed while being copied; run again")
            tmp.mkdir(parents=True, exist_ok=True)  # a group of attrs only (a video view) has no other file
            (tmp / META).write_bytes(body)  # the mark read before the files: they are what it lists
            publish(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.endswith(SKIP) and not any(part.startswith(".") for part in p.relative_to(root).parts):
            yield p


def _write_atomic(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    tmp.write_bytes(body)
    tmp.replace(path)


def remote_store_url(root: str, run_id: str) -> str:
    return f"{root.rstrip('/')}/runs/{run_id}.zarr"


def split_store_url(url: str) -> tuple[str, str]:
    """``<root>/runs/<run-id>.zarr`` -> (root, run id): the layout every shared copy has."""
    head, _, name = url.rstrip("/").rpartition("/")
    root, _, runs = head.rpartition("/")
    if runs != "runs" or not name.endswith(".zarr") or len(name) == len(".zarr") or not root:
        raise StoreError(f"{url}: a shared run store's URL ends in /runs/<run-id>.zarr")
    return root, name[:-len(".zarr")]


def root_attrs(url: str) -> dict:
    """The shared store's root attributes (params, settings, status); a one-line StoreError when it is not there."""
    remote = RemoteStore(url)
    try:
        body = remote.meta_bytes("")
    except OSError as e:  # a missing bucket, no access, no endpoint
        raise StoreError(f"{url}: cannot read it ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from None
    if body is None:
        raise StoreError(f"{url}: no run store there (no bucket, or no zarr.json under that prefix)")
    try:
        return json.loads(body).get("attributes", {})
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StoreError(f"{url}: its zarr.json is not valid JSON") from None


def pull_store(url: str, local: Path) -> list[str]:
    """Copy the shared store at ``url`` to ``local``, marked groups only (a reader trusts nothing else), and
    the files there that are no part of any group, so that ``verify`` on the copy names them as it would here."""
    root_attrs(url)  # the one-line error for a missing bucket or store, before anything is written here
    remote = RemoteStore(url)
    got = remote.pull(local)
    for rel in remote.strays():
        _write_atomic(local / rel, remote.fs.cat_file(remote._key(rel)))
    return got


def _is_stray(parts: list[str]) -> bool:
    """A file's path parts under a store that lie outside every node a run writes (tree.py checks the rest)."""
    if parts[0] not in ("zarr.json", "chunks", "input", "video") or (parts[0] == "zarr.json") != (len(parts) == 1):
        return True
    if parts[0] != "chunks" or len(parts) == 2 and parts[1] == META:
        return False
    return not parts[1].isdigit() or len(parts) == 3 and parts[2] != META


