"""One writer per run: a lease file beside the store, ``<run-id>.zarr.lease``, holding its owner and a heartbeat.

The lease is created exclusively (local disk: ``O_CREAT | O_EXCL``; an fsspec URL: ``open(mode="xb")``, which
s3fs turns into a conditional put with ``If-None-Match: *`` and the memory filesystem checks itself; a
filesystem without exclusive create makes it best effort, see docs/SCALING.md). It sits beside the store, not
inside it, so it can be taken before the store exists and is never part of the store's integrity manifests.

A second job on the same run finds the lease held and stops at once with a one-line ``StoreError``. A lease
whose heartbeat is older than ``stale_s`` (its owner died: kill -9, a lost machine), or whose owner is a dead
process on this very host, is taken over by the next job. Two jobs taking over the same stale lease at once
both write it; each heartbeat re-reads the lease, and the one whose token is gone stops before its next stage.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import StoreError

SUFFIX = ".lease"


def lease_path(store: str | Path) -> str:
    """Where the lease of the store at ``store`` (a local path or an fsspec URL) lives."""
    return str(store).rstrip("/") + SUFFIX


def _is_url(p: str) -> bool:
    return "://" in p and not p.startswith("file://")


def _local(p: str) -> str:
    return p[len("file://"):] if p.startswith("file://") else p


def _target(p: str) -> Path | tuple[Any, str]:
    """A local path, or (filesystem, key) for a URL: resolved once per lease, not per heartbeat."""
    if not _is_url(p):
        return Path(_local(p))
    import fsspec  # only URLs need it; a local run never imports it

    # a fresh instance: fsspec's cache keys on arguments, not on the AWS_* environment the endpoint comes from
    return fsspec.core.url_to_fs(p, skip_instance_cache=True)


def _create_exclusive(t: Path | tuple[Any, str], body: bytes) -> bool:
    """Write ``body`` only if nothing is there; False when something is."""
    if not isinstance(t, Path):
        fs, key = t
        try:
            with fs.open(key, "xb") as f:
                f.write(body)
        except FileExistsError:
            return False
        return True
    t.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(t, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    return True


def _overwrite(t: Path | tuple[Any, str], body: bytes) -> None:
    if not isinstance(t, Path):
        fs, key = t
        fs.pipe_file(key, body)  # one PUT: an object store replaces the object whole
        return
    tmp = t.with_name(f".{t.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(body)
    os.replace(tmp, t)  # readers see the old heartbeat or the new one, never half a file


def _read(t: Path | tuple[Any, str]) -> dict[str, Any] | None:
    try:
        if isinstance(t, Path):
            raw = t.read_bytes()
        else:
            fs, key = t
            fs.invalidate_cache()  # another machine may have written it since
            raw = fs.cat_file(key)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}  # half-written by a writer killed mid-create: no heartbeat, so stale
    return data if isinstance(data, dict) else {}


def _remove(t: Path | tuple[Any, str]) -> None:
    try:
        if isinstance(t, Path):
            t.unlink()
        else:
            fs, key = t
            fs.rm_file(key)
    except FileNotFoundError:
        pass


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, TypeError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _stale(held: dict[str, Any], stale_s: float) -> bool:
    beat = held.get("heartbeat")
    if not isinstance(beat, (int, float)) or time.time() - beat > stale_s:
        return True
    # same host, owner gone: no need to wait out the heartbeat (kill -9 of a local job)
    return held.get("host") == socket.gethostname() and not _pid_alive(held.get("pid"))


def owner_died(store: str | Path, stale_s: float, job: str | None = None) -> bool:
    """True when the store's lease is there but its owner is gone (what a batch takes as a crashed item);
    False when it is free or alive. With ``job``, only a lease taken by that job counts (a new job that has
    not yet taken over a dead one's lease is not dead)."""
    held = _read(_target(lease_path(store)))
    return held is not None and (job is None or held.get("job") == job) and _stale(held, stale_s)


class Lease:
    """Hold the run at ``store`` (path or URL) for this process: ``with Lease(store): ...``.

    A daemon thread renews the heartbeat every ``heartbeat_s``; ``check()`` raises once the lease was
    taken over (this process was presumed dead), so the writer stops before it writes another stage.
    """

    def __init__(self, store: str | Path, stale_s: float = 60.0, heartbeat_s: float = 10.0, job: str | None = None):
        if heartbeat_s <= 0 or stale_s <= heartbeat_s:
            raise StoreError(f"lease: need 0 < heartbeat_s < stale_s, got {heartbeat_s} and {stale_s}")
        self.path = lease_path(store)
        self._t = _target(self.path)
        self.stale_s, self.heartbeat_s = float(stale_s), float(heartbeat_s)
        self.token = uuid.uuid4().hex
        self.job = job  # what runs it (a Prefect flow run id), for whoever watches the job
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        host = socket.gethostname()
        return json.dumps({"owner": f"{getpass.getuser()}@{host}:{os.getpid()}", "host": host, "pid": os.getpid(),
                           "token": self.token, "job": self.job, "heartbeat": time.time()}).encode()

    def acquire(self) -> "Lease":
        for _ in range(3):
            if _create_exclusive(self._t, self._body()):
                break
            held = _read(self._t)
            if held is None:
                continue  # released between our create and our read
            if not _stale(held, self.stale_s):
                age = time.time() - float(held.get("heartbeat") or 0)
                raise StoreError(f"{self.path}: run is being written by {held.get('owner', '?')} "
                                 f"(heartbeat {age:.0f} s ago); wait for it, or stop that job")
            _overwrite(self._t, self._body())  # take over a dead owner's lease
            break
        else:
            raise StoreError(f"{self.path}: lease changed hands repeatedly; try again")
        self._confirm()
        self._thread = threading.Thread(target=self._beat, name="worldwarp-lease", daemon=True)
        self._thread.start()
        return self

    def _confirm(self) -> None:
        held = _read(self._t) or {}
        if held.get("token") != self.token:
            self.lost = f"{self.path}: lease taken over by {held.get('owner', 'another job')}; this job stops"
            raise StoreError(self.lost)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._confirm()
                _overwrite(self._t, self._body())
            except StoreError:
                return
            except OSError:
                continue  # a flaky network: the next beat tries again, the lease goes stale only after stale_s

    def check(self) -> None:
        """Raise when the lease is no longer ours (call between stages)."""
        if self.lost:
            raise StoreError(self.lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.lost and (_read(self._t) or {}).get("token") == self.token:
            _remove(self._t)

    def __enter__(self) -> "Lease":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
