"""One writer per run: an exclusive, non-blocking flock on a hidden file beside the store.

flock locks belong to an open file, so two Studio sessions of one process conflict just as two processes do;
the lock goes with the file descriptor, so a killed job never leaves a run locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BusyError(RuntimeError):
    """Another job is writing this run."""


def lock_file(store: Path) -> Path:
    # beside the store, not in it: the lock exists before the store does, and the store's checksums ignore it
    return store.parent / f".{store.name}.writer.lock"


@contextmanager
def writer(store: Path) -> Iterator[None]:
    path = lock_file(Path(store))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"run {Path(store).name} is being written by another job; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
