"""An array a stage group holds by reference: frames [start, stop) of an array of another group of the same store.

The history frames a chunk hands over are the last frames of its output, and the next chunk's geometry starts from
exactly those: stored once (in ``frames``), they are linked from ``handoff`` and ``geometry`` instead of copied.
A link always points upstream (to a group the linking stage read), so whatever makes the target recompute makes
the linking stage recompute too (stages/runner.heal), and reading resolves it through the target's own checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import StoreError


@dataclass(frozen=True)
class ArrayLink:
    chunk: int
    stage: str
    array: str
    start: int
    stop: int

    def to_attrs(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_attrs(cls, d: Any, where: str) -> "ArrayLink":
        try:
            link = cls(int(d["chunk"]), str(d["stage"]), str(d["array"]), int(d["start"]), int(d["stop"]))
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"{where}: unreadable array link {d!r}") from None
        if link.chunk < 0 or not 0 <= link.start <= link.stop:
            raise StoreError(f"{where}: unreadable array link {d!r}")
        return link
