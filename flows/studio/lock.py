"""One writer per run: the Studio takes the very lease the CLI and the Prefect flows take (worldwarp/store/lease.py),
so one mechanism guards a run whoever writes it.

The lease is ``<run-id>.zarr.lease`` beside the store, or beside its shared copy when the run has one
(``remote.url``, or an ``artifacts`` URL), exactly where ``stages.runner.leased_run`` puts it. Two Studio tabs
of one process conflict just as two processes do (the lease is a file, not a per-process lock). A Studio
killed mid-chunk leaves a lease whose owner is a dead process on this host: the next job takes it over at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worldwarp.config import WorldWarpConfig
from worldwarp.config.lease import LeaseConfig
from worldwarp.store import StoreError
from worldwarp.store.lease import Lease
from worldwarp.store.remote import RemoteStore, remote_store_url


class BusyError(StoreError):
    """Another job (a Studio tab, a CLI run, a flow run) is writing this run."""


def lease_target(store: Path, cfg: WorldWarpConfig | None) -> str | Path:
    """Where the run's lease lives: beside its shared copy when it has one, else beside the local store."""
    if cfg is not None and cfg.remote.url:
        return remote_store_url(cfg.remote.url, Path(store).name.removesuffix(".zarr"))
    return Path(store)


def shared_copy(store: Path, cfg: WorldWarpConfig | None) -> RemoteStore | None:
    """The run's copy on shared storage, when it has one: the Studio keeps it current as the CLI and flows do."""
    target = lease_target(store, cfg)
    return RemoteStore(target) if isinstance(target, str) else None


@contextmanager
def writer(store: Path, cfg: WorldWarpConfig | None = None) -> Iterator[Lease | None]:
    """Hold the run's lease while the block writes it (``lease.enabled=false`` turns it off, as for the CLI)."""
    knobs = cfg.lease if cfg is not None else LeaseConfig()
    if not knobs.enabled:
        yield None
        return
    lease = Lease(lease_target(store, cfg), stale_s=knobs.stale_s, heartbeat_s=knobs.heartbeat_s)
    try:
        lease.acquire()
    except StoreError as e:
        raise BusyError(str(e)) from None
    try:
        yield lease
    finally:
        lease.release()
