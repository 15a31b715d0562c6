"""Small JSON-able records about stages: what orchestrators pass around instead of arrays."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class StageRef:
    """Where a completed stage output lives and which content key it holds (read it with ``RunStore.read_ref``:
    records know nothing of the store that reads them, so refs.py and run.py do not import each other)."""

    store: str
    chunk: int
    stage: str
    key: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageRef":
        return cls(store=str(d["store"]), chunk=int(d["chunk"]), stage=str(d["stage"]), key=str(d["key"]))


@dataclass(frozen=True)
class StageStatus:
    """What the store says about one stage group; ``exists`` False means nothing is there."""

    exists: bool
    complete: bool
    key: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    nbytes: int | None = None
    files: int | None = None


@dataclass(frozen=True)
class SummaryRow:
    chunk: int
    stage: str
    status: str  # "complete" | "incomplete" | "damaged" | "missing"
    key: str | None
    seconds: float | None
    nbytes: int | None
    files: int | None


@dataclass(frozen=True)
class Verification:
    """What ``RunStore.verify`` found: problems per damaged path (a group ``input``, ``chunks/<k>/<stage>``,
    ``video``; a plain node ``chunks``, ``chunks/<k>``; the root's ``zarr.json``; a stray file or folder),
    groups written without checksums (older stores), and how many groups were checked.

    ``missing``: groups the run's plan says must be there and are not; ``strays``: paths that are no part of a
    run store; ``nodes``: plain groups whose zarr.json is missing or damaged; ``limits``: what could not be
    checked (a store written before plans and seals)."""

    damaged: dict[str, list[str]]
    unchecked: list[str]
    checked: int
    missing: tuple[str, ...] = ()
    strays: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.damaged

    def first(self) -> str:
        """One line naming the first problem, and how many groups are damaged."""
        if not self.damaged:
            return "intact"
        rel, bad = next(iter(self.damaged.items()))
        more = f" (and {len(self.damaged) - 1} more damaged groups)" if len(self.damaged) > 1 else ""
        return f"{rel}: {bad[0]}{more}"
