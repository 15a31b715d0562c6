"""What a writing job holds while it runs: the run's lease, and the shared copy it keeps up to date."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from worldwarp.store import RunStore
from worldwarp.store.lease import Lease
from worldwarp.store.remote import RemoteStore

log = logging.getLogger("worldwarp.store")


@dataclass
class RunGuard:
    lease: Lease | None
    remote: RemoteStore | None
    store: RunStore | None = None

    @property
    def lost(self) -> bool:
        """The lease was taken over: this job was presumed dead, and must not write the run's status."""
        return bool(self.lease and self.lease.lost)

    def check(self) -> None:
        """Before each stage: stop if another job took the run over."""
        if self.lease:
            self.lease.check()

    def pull(self, local: Path) -> None:
        if self.remote:
            got = self.remote.pull(local)
            if got:
                log.info("%s: %d finished groups copied from %s", local, len(got), self.remote.url)

    def sync(self, chunk: int | None = None) -> None:
        """Copy finished groups (of ``chunk``, or all) and the root node to the shared copy."""
        if not (self.remote and self.store):
            return
        path = self.store.path
        self.remote.push_meta(path)
        self.remote.push_meta(path, "chunks")
        if (path / "input").is_dir():
            self.remote.push_group(path, "input")
        for k in self.store.chunks() if chunk is None else [chunk]:
            self.remote.push_meta(path, f"chunks/{k}")
            for stage in self.store.stages(k):
                self.remote.push_group(path, f"chunks/{k}/{stage}")

    def drop(self, rel: str) -> None:
        """A group the local store dropped on purpose (a finished chunk's render) leaves the shared copy too."""
        if self.remote:
            self.remote.remove_group(rel)

    def finish(self) -> None:
        """After the run's status is final: the video, then every group and the root (its status) last."""
        if not (self.remote and self.store):
            return
        if (self.store.path / "video").is_dir():
            self.remote.push_group(self.store.path, "video", marked=False)
        self.sync()
        gone = self.remote.remove_strays()  # what `verify <url>` named as no part of a run store
        if gone:
            log.warning("%s: removed %d files that are no part of a run store (%s)", self.remote.url, len(gone),
                        ", ".join(gone[:5]))
