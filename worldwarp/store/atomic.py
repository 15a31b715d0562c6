"""All-or-nothing directories: build under a hidden temporary name, then rename into place.

A rename within one directory is atomic, so a reader sees either the old directory, nothing, or
the finished new one. Replacing a non-empty directory takes two renames (old -> trash, new ->
final); in between the name is missing, which readers take as "not done", never as done.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from pathlib import Path

TMP, TRASH = ".tmp-", ".trash-"


def temp_sibling(final: Path, tag: str = TMP) -> Path:
    # the pid lets garbage collection tell a dead writer's leftovers from a live writer's work
    return final.parent / f".{final.name}{tag}{os.getpid()}-{uuid.uuid4().hex[:12]}"


def publish(tmp: Path, final: Path, attempts: int = 5) -> None:
    """Move a finished ``tmp`` directory to ``final``, replacing whatever is there."""
    for _ in range(attempts):
        try:
            os.rename(tmp, final)
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                raise
        trash = temp_sibling(final, TRASH)
        try:
            os.rename(final, trash)
        except FileNotFoundError:
            continue  # another writer moved it first; try again
        shutil.rmtree(trash, ignore_errors=True)
    raise OSError(errno.EBUSY, f"could not publish {final}: replaced concurrently {attempts} times")


def _writer_alive(name: str) -> bool:
    tail = name.rsplit(TMP, 1)[-1]
    try:
        pid = int(tail.split("-", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def is_leftover(p: Path) -> bool:
    return p.name.startswith(".") and (TMP in p.name or TRASH in p.name)


def collect(parent: Path, older_than_s: float) -> int:
    """Remove trash and dead or old temporaries directly under ``parent``; returns how many."""
    removed = 0
    if not parent.is_dir():
        return 0
    now = time.time()
    for p in parent.iterdir():
        if not is_leftover(p):
            continue
        stale = TRASH in p.name or not _writer_alive(p.name) or now - p.stat().st_mtime > older_than_s
        if stale:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed += 1
    return removed


def tree_nbytes(path: Path) -> tuple[int, int]:
    """(bytes, files) of every regular file under ``path``."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            total += os.path.getsize(os.path.join(root, n))
            files += 1
    return total, files
