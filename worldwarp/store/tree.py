"""What a run store must hold, checked both ways: every node it should have is there and reads as written, and
nothing is there that a run does not write.

Each group's files are checked against the manifest in its completion mark (integrity.py); what a mark cannot
vouch for is checked here: the groups' own zarr.json (their seal), the plain groups ``chunks`` and
``chunks/<k>`` (which hold nothing but their node type), which groups must exist at all (the run's ``plan`` in
the root attrs: the chunk count and each chunk's stage groups in the order a run writes them) and the video
(whole for a complete run, pointing at frames groups that are there). Stores written before plans and seals are
checked for everything else; ``limits`` says what could not be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import video
from .errors import StoreError
from .groups import META, read_meta
from .integrity import SEAL, problems, seal_problem
from .keys import check_name

ROOT_NODES = ("chunks", "input", "video")
ROOT = META  # the key the root node's problems are listed under: its zarr.json
MISSING = "missing (the run's plan has it)"


@dataclass
class Found:
    """What a check of the whole tree found; ``RunStore.verify`` turns it into a ``Verification``."""

    damaged: dict[str, list[str]] = field(default_factory=dict)
    unchecked: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unsealed: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    checked: int = 0

    def add(self, rel: str, problem: str) -> None:
        self.damaged.setdefault(rel, []).append(problem)


def _entries(d: Path) -> list[Path]:
    """What a directory holds, hidden entries (locks, temporaries, trash) left out."""
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.is_dir() else []


def _stray(found: Found, root: Path, p: Path) -> None:
    rel = p.relative_to(root).as_posix()
    found.strays.append(rel)
    found.add(rel, "not part of a run store (an unknown " + ("folder" if p.is_dir() else "file") + ")")


def _plain_node(found: Found, root: Path, rel: str) -> None:
    """``chunks`` and ``chunks/<k>``: a group with no attributes; anything else there is damage."""
    try:
        meta = read_meta(root / rel)
    except StoreError:
        meta, problem = None, "zarr.json is unreadable"
    else:
        problem = "zarr.json is missing" if meta is None else None
    if meta is not None and (meta.get("node_type") != "group" or meta.get("zarr_format") != 3 or meta.get("attributes")):
        problem = "zarr.json is not the plain group a run writes there"
    if problem:
        found.nodes.append(rel)
        found.add(rel, problem)


def plan_of(attrs: Mapping[str, Any]) -> tuple[int, list[str], list[str]] | None:
    """(chunk count, each chunk's stage groups in write order, optional groups) or None (no plan recorded)."""
    plan = attrs.get("plan")
    if not isinstance(plan, dict):
        return None
    try:
        return int(plan["chunks"]), [str(g) for g in plan["groups"]], [str(g) for g in plan.get("optional", [])]
    except (KeyError, TypeError, ValueError):
        raise StoreError("the root zarr.json's plan is unreadable") from None


def check_tree(root: Path, attrs: Mapping[str, Any], deep: bool) -> Found:
    found = Found()
    problem = seal_problem(attrs)
    if problem:
        found.add(ROOT, problem)
    try:
        plan = plan_of(attrs)
    except StoreError as e:
        plan = None
        found.add(ROOT, str(e))
    if plan is None:
        found.limits.append("no plan recorded (written by an older version): a group deleted whole cannot be "
                            "told from one never written")
    for p in _entries(root):
        if p.name not in (*ROOT_NODES, META) or (p.name == META) == p.is_dir():
            _stray(found, root, p)
    groups = _chunk_groups(found, root, plan)
    for rel in [*(["input"] if (root / "input").exists() else []), *groups]:
        _check_group(found, root, rel, deep)
    if plan is not None:
        _expect(found, root, attrs, plan, groups)
    _check_video(found, root, attrs, deep)
    if SEAL not in attrs:
        found.unsealed.insert(0, ROOT)
    if found.unsealed:
        found.limits.append(f"{len(found.unsealed)} nodes' zarr.json carry no seal (written by an older version; "
                            f"{', '.join(found.unsealed[:3])}{', ...' if len(found.unsealed) > 3 else ''}): "
                            "an edit to their attributes cannot be found")
    return found


def _chunk_groups(found: Found, root: Path, plan: tuple[int, list[str], list[str]] | None) -> list[str]:
    """The stage groups under chunks/ (in chunk, then name order), after checking the plain nodes above them."""
    d = root / "chunks"
    if not d.is_dir():
        return []
    _plain_node(found, root, "chunks")
    out = []
    known = None if plan is None else {*plan[1], *plan[2]}
    for c in _entries(d):
        if c.name == META and c.is_file():
            continue
        # a chunk beyond the plan's count stays (a run whose count was lowered may raise it again and reuse it);
        # its groups are checked like any other
        if not (c.is_dir() and c.name.isdigit()):
            _stray(found, root, c)
            continue
        _plain_node(found, root, f"chunks/{c.name}")
        for g in _entries(c):
            if g.name == META and g.is_file():
                continue
            if not g.is_dir() or (known is not None and g.name not in known) or not _valid(g.name):
                _stray(found, root, g)
                continue
            out.append(f"chunks/{c.name}/{g.name}")
    return sorted(out, key=lambda rel: (int(rel.split("/")[1]), rel))


def _valid(name: str) -> bool:
    try:
        check_name(name, "stage")
    except StoreError:
        return False
    return True


def _check_group(found: Found, root: Path, rel: str, deep: bool) -> None:
    """A published group: its mark (complete, sealed) and every file its manifest lists, both ways."""
    d = root / rel
    try:
        meta = read_meta(d)
    except StoreError:
        found.add(rel, "zarr.json is unreadable")
        return
    if meta is None:
        found.add(rel, "zarr.json is missing")
        return
    a = meta.get("attributes")
    if meta.get("node_type") != "group" or not isinstance(a, dict) or a.get("complete") is not True:
        # groups are published whole with their mark (atomic.py): one without it was not written so
        found.add(rel, "zarr.json holds no completion mark")
        return
    problem = seal_problem(a)
    if problem:
        found.add(rel, problem)
        return
    if SEAL not in a:
        found.unsealed.append(rel)
    if a.get("manifest") is None:
        found.unchecked.append(rel)
        return
    found.checked += 1
    bad = problems(d, a["manifest"], deep)
    if bad:
        found.damaged.setdefault(rel, []).extend(bad)


def _expect(found: Found, root: Path, attrs: Mapping[str, Any], plan: tuple[int, list[str], list[str]],
            groups: list[str]) -> None:
    """Groups the plan says must be there. A run writes chunk after chunk, each chunk's groups in plan order,
    and anything that drops a group drops everything written after it too (stages/runner.heal); so every
    group before the last one present must be there, and a complete run has them all."""
    count, order, _ = plan
    slots = [f"chunks/{k}/{g}" for k in range(count) for g in order]
    present = set(groups)
    if attrs.get("status") == "complete":
        upto = len(slots)
    else:
        upto = max((i + 1 for i, rel in enumerate(slots) if rel in present), default=0)
    for rel in slots[:upto]:
        if rel not in present:
            found.missing.append(rel)
            found.add(rel, MISSING)
    if (upto or attrs.get("status") == "complete") and not (root / "input").exists():
        found.missing.append("input")
        found.add("input", MISSING)


def _check_video(found: Found, root: Path, attrs: Mapping[str, Any], deep: bool) -> None:
    vdir = root / "video"
    if not vdir.exists():
        if attrs.get("total_frames"):
            found.add("video", MISSING)
        return
    try:
        meta = read_meta(vdir)
    except StoreError:
        found.add("video", "zarr.json is unreadable")
        return
    if meta is None or not isinstance(meta.get("attributes"), dict) or meta.get("node_type") != "group":
        found.add("video", "zarr.json is missing" if meta is None else "zarr.json is not a video group")
        return
    a = meta["attributes"]
    problem = seal_problem(a)
    if problem:
        found.add("video", problem)
        return
    if SEAL not in a:
        found.unsealed.append("video")
    want_view = attrs.get("video_layout", video.PIXELS) == video.VIEW
    if want_view != (a.get("layout") == video.VIEW):
        found.add("video", "zarr.json is not the video layout the run has")
        return
    if want_view:
        _check_view(found, root, attrs, a)
    else:
        bad = video.problems(vdir, deep)
        if bad is None:
            found.unchecked.append("video")
        else:
            found.checked += 1
            if bad:
                found.damaged.setdefault("video", []).extend(bad)
    _video_whole(found, root, attrs)


def _check_view(found: Found, root: Path, attrs: Mapping[str, Any], a: Mapping[str, Any]) -> None:
    """A view has no files of its own (its .lock aside): anything else there is a stray; each source's frames
    group must be there (it is checked as a group of its own)."""
    found.checked += 1
    for p in _entries(root / "video"):
        if p.name != META:
            _stray(found, root, p)
    try:
        srcs = video.sources(root / "video")
        shape = [int(n) for n in a["shape"]]
    except (KeyError, TypeError, ValueError):
        found.add("video", "zarr.json's sources or shape are unreadable")
        return
    want = [attrs.get("total_frames"), *(attrs.get("frame_shape") or [])]
    if attrs.get("total_frames") and shape[:len(want)] != want:
        found.add("video", f"its shape {shape} is not the run's {want}")
    for start, stop, chunk, _ in srcs:
        if not (root / f"chunks/{chunk}/{video.FRAMES}").is_dir():
            found.add("video", f"frames {start}..{stop} are chunk {chunk}'s, whose frames group is missing")


def _video_whole(found: Found, root: Path, attrs: Mapping[str, Any]) -> None:
    total = attrs.get("total_frames")
    if attrs.get("status") != "complete" or not total or "video" in found.damaged:
        return
    have = video.merge(video.done_ranges(root / "video"))
    if have != [(0, int(total))]:
        found.add("video", f"holds frames {have}, not 0..{total}, in a complete run")
