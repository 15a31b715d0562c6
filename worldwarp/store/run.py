"""RunStore: one Zarr v3 store per run, ``<root>/<run-id>.zarr`` (layout in DESIGN.md §3).

Every stage output is a group ``chunks/<k>/<stage>`` published whole (see atomic.py) with its
content key and completion mark in its attrs. The root's attrs hold the run's params, input
digest, code version and status. Nothing is ever unpickled or imported from a store.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from . import video
from .atomic import TRASH, collect, publish, temp_sibling, tree_nbytes
from .errors import StoreError
from .groups import (META, as_arrays, ensure_group, node_attrs, read_arrays, read_checked, read_meta, write_group_meta,
                     write_published)
from .integrity import manifest, sealed
from .tree import ROOT, check_tree
from .keys import canonical_json, check_name
from .links import ArrayLink
from .meta import differences, link_or_copy, now, plain_attrs
from .precision import encode_stage
from .refs import StageRef, StageStatus, SummaryRow, Verification

FORMAT = "worldwarp-run/1"
STATUSES = ("running", "complete", "failed")
# display order in summaries; any other stage name sorts after these
STAGE_ORDER = ("geometry", "gaussians", "warp", "render", "latents", "frames", "handoff")
FRAMES = "frames"  # the group whose rgb a video view reads
GC_AGE_S = 3600.0


class RunStore:
    """A run's artifact store. Open with ``open``/``create``/``open_or_create``, not the constructor."""

    def __init__(self, path: Path):
        self.path = path

    # ---- creating and opening -------------------------------------------------------------

    @classmethod
    def create(cls, root: Path | str, run_id: str, *, params: Mapping[str, Any], input_digest: str,
               code_version: str, total_frames: int | None = None,
               frame_shape: tuple[int, ...] | None = None, settings: Mapping[str, Any] | None = None,
               video_layout: str = video.VIEW, plan: Mapping[str, Any] | None = None) -> "RunStore":
        """Make ``<root>/<run_id>.zarr``; it appears whole (built aside, then renamed) or not at all.

        ``settings``: where and how the run reports (artifact root, tracking), kept so that a resume
        reports to the same place, wherever the store is then. ``plan``: which groups a complete run has
        (``{"chunks": n, "groups": [each chunk's stage groups in write order], "optional": [...]}``), what
        ``verify`` finds missing groups by (tree.py)."""
        final = Path(root) / f"{check_name(run_id, 'run id')}.zarr"
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise StoreError(f"{final}: already exists; open it, or choose another run id")
        stamp = now()
        attrs = {"format": FORMAT, "video_layout": video_layout, "run_id": run_id, "params": json.loads(canonical_json(params)),
                 "input_digest": input_digest, "code_version": code_version, "status": "running",
                 "created_at": stamp, "updated_at": stamp, "total_frames": total_frames,
                 "frame_shape": list(frame_shape) if frame_shape else None,
                 "settings": json.loads(canonical_json(settings or {}))}
        if plan is not None:
            attrs["plan"] = json.loads(canonical_json(plan))
        tmp = temp_sibling(final)
        try:
            zarr.create_group(LocalStore(tmp), zarr_format=3, attributes=sealed(attrs))
            ensure_group(tmp / "chunks")
            if total_frames is not None:
                video.create(tmp / "video", total_frames, tuple(frame_shape or ()), video_layout)
            os.rename(tmp, final)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise StoreError(f"{final}: already exists; open it, or choose another run id") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(final)

    @classmethod
    def open(cls, path: Path | str) -> "RunStore":
        path = Path(path).resolve()
        if path.is_file():
            raise StoreError(f"{path}: is a file, not a run store (a directory <run-id>.zarr)")
        if not path.is_dir():
            raise StoreError(f"{path}: no run store there")
        try:
            meta = read_meta(path)
        except StoreError:
            meta = {}  # unreadable
        ok = meta is not None and meta.get("node_type") == "group" and meta.get("zarr_format") == 3
        if ok and (meta.get("attributes") or {}).get("format") == FORMAT:
            return cls(path)
        if any((path / n).is_dir() for n in ("chunks", "input")):  # a run store whose root is what is damaged
            what = "missing" if meta is None else "damaged (unreadable, or not a run store's root)"
            raise StoreError(f"{path / META}: {what}; it holds the run's params, so `worldwarp resume` cannot "
                             "rebuild it: copy it back from a backup or from the run's shared copy")
        if not ok:
            raise StoreError(f"{path}: not a Zarr v3 run store (no group zarr.json)")
        raise StoreError(f"{path}: not a WorldWarp run store (format is not {FORMAT})")

    @classmethod
    def open_or_create(cls, root: Path | str, run_id: str, *, params: Mapping[str, Any], input_digest: str,
                       code_version: str, total_frames: int | None = None,
                       frame_shape: tuple[int, ...] | None = None, replace_params: bool = False,
                       settings: Mapping[str, Any] | None = None, plan: Mapping[str, Any] | None = None) -> "RunStore":
        """Resume the run's store, or create it. A store made with other params or inputs is refused
        unless ``replace_params``: then its params are replaced, and stages recompute by content key."""
        path = Path(root) / f"{check_name(run_id, 'run id')}.zarr"
        try:
            return cls.create(root, run_id, params=params, input_digest=input_digest, code_version=code_version,
                              total_frames=total_frames, frame_shape=frame_shape, settings=settings, plan=plan)
        except StoreError:
            if not path.exists():
                raise
        # it existed, or a concurrent process created it first
        return cls.reopen(path, params=params, input_digest=input_digest, code_version=code_version,
                          total_frames=total_frames, frame_shape=frame_shape, replace_params=replace_params,
                          settings=settings, plan=plan)

    @classmethod
    def reopen(cls, path: Path | str, *, params: Mapping[str, Any], input_digest: str, code_version: str,
               total_frames: int | None = None, frame_shape: tuple[int, ...] | None = None,
               replace_params: bool = False, settings: Mapping[str, Any] | None = None,
               plan: Mapping[str, Any] | None = None) -> "RunStore":
        """Open an existing store to continue its run, wherever it lies (same checks as ``open_or_create``).
        A store written before plans were kept gets this run's ``plan`` from now on."""
        store = cls.open(path)
        store._adopt(params, input_digest, code_version, replace_params)
        store._ensure_video(total_frames, frame_shape, replace_params)
        if settings is not None and store.attrs.get("settings") != json.loads(canonical_json(settings)):
            store._update(settings=json.loads(canonical_json(settings)))
        if plan is not None and store.attrs.get("plan") != json.loads(canonical_json(plan)):
            store._update(plan=json.loads(canonical_json(plan)))
        store.collect_garbage()
        return store

    def _adopt(self, params: Mapping[str, Any], input_digest: str, code_version: str, replace: bool) -> None:
        a = self.attrs
        params = json.loads(canonical_json(params))
        diff = differences(a.get("params"), params)
        if not replace and diff:
            raise StoreError(f"{self.path}: holds a run with different params (at {', '.join(diff[:4])}); "
                             "choose another run id or replace its params")
        if not replace and a.get("input_digest") != input_digest:
            raise StoreError(f"{self.path}: holds a run of different inputs (digest {str(a.get('input_digest'))[:12]} "
                             f"!= {input_digest[:12]}); choose another run id or replace its params")
        if diff or a.get("input_digest") != input_digest or a.get("code_version") != code_version:
            self._update(params=params, input_digest=input_digest, code_version=code_version)

    def _ensure_video(self, total_frames: int | None, frame_shape: tuple[int, ...] | None, replace: bool) -> None:
        if total_frames is None:
            return
        vdir = self.path / "video"
        want = (int(total_frames), *map(int, frame_shape or ()), *(() if len(frame_shape or ()) == 3 else (3,)))
        try:
            have = video.shape(vdir)
        except StoreError:  # its zarr.json is damaged: verify reports it and heal replaces it (resume)
            return
        if have == want:
            return
        if have is not None and not replace:
            raise StoreError(f"{self.path}: video is {have}, asked for {want}")
        tmp = temp_sibling(vdir)
        video.create(tmp, total_frames, tuple(frame_shape or ()), self.video_layout)
        publish(tmp, vdir)
        self._update(total_frames=int(total_frames), frame_shape=list(frame_shape or ()))

    # ---- root attrs -----------------------------------------------------------------------

    @property
    def attrs(self) -> dict[str, Any]:
        return node_attrs(self.path) or {}

    def _update(self, **changes: Any) -> None:
        write_group_meta(self.path, {**self.attrs, **changes, "updated_at": now()})

    run_id = property(lambda self: self.attrs["run_id"])
    params = property(lambda self: self.attrs["params"])
    input_digest = property(lambda self: self.attrs["input_digest"])
    code_version = property(lambda self: self.attrs["code_version"])
    status = property(lambda self: self.attrs["status"])

    def settings(self) -> dict[str, Any]:
        """The run's artifact root and tracking settings. Stores written before these were kept get the
        root above ``runs/`` (or the store's own folder) and tracking off: never a database the run did not ask for."""
        kept = self.attrs.get("settings")
        if kept:
            return dict(kept)
        parent = self.path.parent
        return {"artifacts": str(parent.parent if parent.name == "runs" else parent), "tracking": {"mlflow": False}}

    def record(self, **info: Any) -> None:
        """Root attrs saying what the run actually does (e.g. ``trajectory``: its resolved kind and name); written
        only when they change. Reserved names (params, status, ...) are refused."""
        reserved = {"format", "video_layout", "run_id", "params", "input_digest", "code_version", "status", "created_at",
                    "updated_at", "total_frames", "frame_shape", "settings"}
        if reserved & set(info):
            raise StoreError(f"record: {sorted(reserved & set(info))} are the store's own attrs")
        info = json.loads(canonical_json(info))
        if any(self.attrs.get(k) != v for k, v in info.items()):
            self._update(**info)

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise StoreError(f"status must be one of {STATUSES}, got {status!r}")
        self._update(status=status)

    # ---- stages ---------------------------------------------------------------------------

    def _chunk_dir(self, chunk: int) -> Path:
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 0:
            raise StoreError(f"chunk index must be an int >= 0, got {chunk!r}")
        return self.path / "chunks" / str(int(chunk))

    def stage_dir(self, chunk: int, stage: str) -> Path:
        return self._chunk_dir(chunk) / check_name(stage, "stage")

    def write_stage(self, chunk: int, stage: str, key: str, arrays: Mapping[str, Any],
                    attrs: Mapping[str, Any] | None = None) -> StageRef:
        """Write a stage's arrays and attrs all-or-nothing, marked complete under ``key``.

        An older group of the same stage (any key, complete or not) is replaced. The mark's
        ``seconds`` is the stage's ``compute_seconds`` attr, when given, plus the time spent writing.
        """
        final = self.stage_dir(chunk, stage)
        links = {n: a for n, a in arrays.items() if isinstance(a, ArrayLink)}
        for n, link in links.items():
            check_name(n, "array")
            self._require(link.chunk, link.stage, None)  # a link to nothing would read as an error later
        data, precision = encode_stage(stage, as_arrays({n: a for n, a in arrays.items() if n not in links}))
        user = plain_attrs(attrs)
        ensure_group(self.path / "chunks")  # a store whose chunks/ was lost whole gets its plain groups back too
        ensure_group(final.parent)
        collect(final.parent, GC_AGE_S)
        t0 = time.perf_counter()

        def mark(tmp: Path) -> dict[str, Any]:
            nbytes, files = tree_nbytes(tmp)
            spent = time.perf_counter() - t0
            return {"complete": True, "finished_at": now(), "write_seconds": round(spent, 4),
                    "seconds": round(float(user.get("compute_seconds") or 0.0) + spent, 4),
                    "nbytes": nbytes, "files": files, "raw_nbytes": sum(a.nbytes for a in data.values()),
                    "manifest": manifest(tmp)}

        before = {**user, "stage": stage, "chunk": int(chunk), "key": key, "complete": False,
                  "arrays": sorted([*data, *links])}
        if links:
            before["links"] = {n: link.to_attrs() for n, link in sorted(links.items())}
        write_published(final, data, before, mark, precision)
        return StageRef(str(self.path), int(chunk), stage, key)

    def reuse_stage(self, source: "RunStore", chunk: int, stage: str, key: str) -> StageRef | None:
        """Take a complete stage from another run's store when it holds the same content key.

        Published groups are never modified in place (a rewrite replaces the whole directory), so
        hard links are safe and cost no disk; across filesystems the files are copied.
        """
        if source.path == self.path or not source.is_complete(chunk, stage, key):
            return None
        final = self.stage_dir(chunk, stage)
        ensure_group(self.path / "chunks")
        ensure_group(final.parent)
        tmp = temp_sibling(final)
        try:
            shutil.copytree(source.stage_dir(chunk, stage), tmp, copy_function=link_or_copy)
            if not (node_attrs(tmp) or {}).get("key") == key:  # the source was replaced meanwhile
                raise StoreError(f"{source.path}: chunk {chunk} stage {stage!r} changed while being reused")
            publish(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return StageRef(str(self.path), int(chunk), stage, key)

    def stage_status(self, chunk: int, stage: str) -> StageStatus:
        a = node_attrs(self.stage_dir(chunk, stage))
        if a is None:
            return StageStatus(exists=False, complete=False)
        return StageStatus(exists=True, complete=a.get("complete") is True, key=a.get("key"),
                           finished_at=a.get("finished_at"), seconds=a.get("seconds"), nbytes=a.get("nbytes"),
                           files=a.get("files"))

    def is_complete(self, chunk: int, stage: str, key: str) -> bool:
        st = self.stage_status(chunk, stage)
        return st.complete and st.key == key

    def _require(self, chunk: int, stage: str, key: str | None) -> Path:
        st = self.stage_status(chunk, stage)
        if not st.complete:
            what = "was never written" if not st.exists else "is incomplete"
            raise StoreError(f"{self.path}: chunk {chunk} stage {stage!r} {what}")
        if key is not None and st.key != key:
            raise StoreError(f"{self.path}: chunk {chunk} stage {stage!r} holds key {st.key[:12]}, not {key[:12]}")
        return self.stage_dir(chunk, stage)

    @classmethod
    def read_ref(cls, ref: StageRef) -> dict[str, np.ndarray]:
        """A ref's arrays, refusing if its store no longer holds that key complete."""
        return cls.open(ref.store).read_stage(ref.chunk, ref.stage, key=ref.key)

    def stage_ref(self, chunk: int, stage: str) -> StageRef:
        self._require(chunk, stage, None)
        return StageRef(str(self.path), int(chunk), stage, self.stage_status(chunk, stage).key or "")

    def stage_attrs(self, chunk: int, stage: str) -> dict[str, Any]:
        return node_attrs(self._require(chunk, stage, None)) or {}

    def read_stage(self, chunk: int, stage: str, key: str | None = None) -> dict[str, np.ndarray]:
        """Every array of a complete stage (refused when incomplete, damaged, or when ``key`` is given and differs);
        linked arrays (links.py) are read from the group they point to."""
        d = self._require(chunk, stage, key)
        a = node_attrs(d) or {}
        out = read_arrays(d, a.get("manifest"))
        for name, link in self._links(d, a).items():
            out[name] = self._read_link(link)
        return dict(sorted(out.items()))

    def read_array(self, chunk: int, stage: str, name: str, frames: slice | int = slice(None)) -> np.ndarray:
        """Part of one array along its first axis: reads only the chunks holding those frames."""
        d = self._require(chunk, stage, None)
        a = node_attrs(d) or {}
        link = self._links(d, a).get(name)
        if link is not None:
            return self._read_link(link)[frames]
        return read_checked(d, check_name(name, "array"), a.get("manifest"), frames)

    @staticmethod
    def _links(d: Path, attrs: Mapping[str, Any]) -> dict[str, ArrayLink]:
        return {n: ArrayLink.from_attrs(v, f"{d}/{n}") for n, v in (attrs.get("links") or {}).items()}

    def _read_link(self, link: ArrayLink, depth: int = 0) -> np.ndarray:
        if depth > 8:  # links are written pointing upstream; a cycle is a damaged store
            raise StoreError(f"{self.path}: array links form a cycle at chunk {link.chunk} {link.stage}/{link.array}")
        d = self._require(link.chunk, link.stage, None)
        a = node_attrs(d) or {}
        inner = self._links(d, a).get(link.array)
        sel = slice(link.start, link.stop)
        out = self._read_link(inner, depth + 1)[sel] if inner else read_checked(d, link.array, a.get("manifest"), sel)
        if len(out) != link.stop - link.start:
            raise StoreError(f"{self.path}: chunk {link.chunk} {link.stage}/{link.array} has no frames "
                             f"{link.start}..{link.stop}")
        return out

    def chunks(self) -> list[int]:
        d = self.path / "chunks"
        return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit()) if d.is_dir() else []

    def stages(self, chunk: int) -> list[str]:
        d = self._chunk_dir(chunk)
        names = [p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")] if d.is_dir() else []
        rank = {s: i for i, s in enumerate(STAGE_ORDER)}
        return sorted(names, key=lambda s: (rank.get(s, len(rank)), s))

    # ---- input and video ------------------------------------------------------------------

    def write_input(self, arrays: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> bool:
        """Write the run's inputs once; False when they are already there for this input digest."""
        digest = self.input_digest
        a = node_attrs(self.path / "input")
        if a and a.get("complete") is True and a.get("input_digest") == digest:
            return False
        data, user = as_arrays(arrays), plain_attrs(attrs)
        write_published(self.path / "input", data, {**user, "complete": False, "arrays": sorted(data)},
                        lambda tmp: {"complete": True, "input_digest": digest, "finished_at": now(),
                                     "manifest": manifest(tmp)})
        return True

    def read_input(self) -> dict[str, np.ndarray]:
        a = node_attrs(self.path / "input")
        if not a or a.get("complete") is not True:
            raise StoreError(f"{self.path}: the input group is missing or incomplete")
        return read_arrays(self.path / "input", a.get("manifest"))

    @property
    def video_layout(self) -> str:
        """``view`` (frames kept once, in the chunks' frames groups) or ``pixels`` (stores made before views)."""
        return str(self.attrs.get("video_layout", video.PIXELS))

    def write_video_frames(self, start: int, frames: np.ndarray) -> None:
        """Put frames at [start, start + n) of a pixel video; writing the same frames again is a no-op in effect."""
        video.write(self.path / "video", int(start), frames)

    def add_video_frames(self, start: int, chunk: int, offset: int, count: int,
                         pixels: Callable[[], np.ndarray]) -> None:
        """Frames [start, start + count) of the video are chunk's frames/rgb[offset:offset + count]: a view
        records where they are; a pixel video gets a copy, ``pixels()`` (uint8)."""
        if video.is_view(self.path / "video"):
            self._require(chunk, FRAMES, None)
            video.link(self.path / "video", int(start), int(start) + int(count), int(chunk), int(offset))
        else:
            video.write(self.path / "video", int(start), pixels())

    def forget_video_chunks(self, chunks: set[int]) -> None:
        """A view forgets the frames of these chunks (their frames groups are being recomputed)."""
        video.forget_chunks(self.path / "video", {int(k) for k in chunks})

    def read_video(self, frames: slice = slice(None)) -> np.ndarray:
        """The video's frames from 0 up to the first frame not yet written (or a slice of those), uint8."""
        vdir = self.path / "video"
        if video.shape(vdir) is None:
            return np.zeros((0, 0, 0, 3), np.uint8)
        if not video.is_view(vdir):
            return video.read(vdir, frames)
        start, stop, step = video.prefix_slice(vdir, frames)
        parts = []
        for a, b, chunk, offset in video.sources(vdir):
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                parts.append(self._frames_uint8(chunk, slice(offset + lo - a, offset + hi - a)))
        out = np.concatenate(parts) if parts else np.zeros((0, *video.shape(vdir)[1:]), np.uint8)
        return out[::step]

    def _frames_uint8(self, chunk: int, sel: slice) -> np.ndarray:
        # stored as the video's own uint8 (precision table; views exist only in stores that have the table)
        d = self._require(chunk, FRAMES, None)
        return read_checked(d, "rgb", (node_attrs(d) or {}).get("manifest"), sel, raw=True)

    def video_ranges(self) -> list[tuple[int, int]]:
        return video.merge(video.done_ranges(self.path / "video"))

    # ---- inspection and upkeep ------------------------------------------------------------

    def summary(self, verify: Verification | None = None) -> list[SummaryRow]:
        """One row per stage group; with a ``verify()`` result, damaged groups (or groups under a damaged chunk
        node) show as "damaged", and groups the run must have but lacks as "missing"."""
        rows = []
        for k in self.chunks():
            for stage in self.stages(k):
                try:
                    st = self.stage_status(k, stage)
                except StoreError:  # its zarr.json is unreadable
                    st = StageStatus(exists=True, complete=False)
                status = "complete" if st.complete else "incomplete"
                if verify is not None and ({f"chunks/{k}/{stage}", f"chunks/{k}", "chunks"} & verify.damaged.keys()):
                    status = "damaged"
                rows.append(SummaryRow(k, stage, status, st.key, st.seconds, st.nbytes, st.files))
        for rel in (verify.missing if verify is not None else ()):
            if rel.startswith("chunks/"):
                _, k, stage = rel.split("/")
                rows.append(SummaryRow(int(k), stage, "missing", None, None, None, None))
        rank = {s: i for i, s in enumerate(STAGE_ORDER)}
        return sorted(rows, key=lambda r: (r.chunk, rank.get(r.stage, len(rank)), r.stage))

    # ---- integrity ------------------------------------------------------------------------

    def groups(self) -> list[str]:
        """Every published group, as a path relative to the store: input, chunks/<k>/<stage>."""
        return ["input", *(f"chunks/{k}/{s}" for k in self.chunks() for s in self.stages(k))]

    def verify(self, deep: bool = True) -> Verification:
        """Check the whole store: every completed group and the video against the files recorded when they were
        written, every node's zarr.json, and the tree against what the run must hold (tree.py), both ways.

        ``deep`` recomputes every file's crc32c (reads the whole store once); otherwise only presence and
        sizes are checked (a stat per file). Groups written before manifests existed are listed as unchecked,
        and what a store written before plans and seals lacks, in ``limits``.
        """
        f = check_tree(self.path, self.attrs, deep)
        return Verification(f.damaged, f.unchecked, f.checked, tuple(f.missing), tuple(f.strays), tuple(f.nodes),
                            tuple(f.limits))

    def repair(self, report: Verification) -> list[str]:
        """Mend what needs no recompute: strays go, plain groups get their zarr.json back, a root whose seal
        does not match is sealed again (what it now says is what the run continues with: its params decide
        every stage's key, and each group is checked against its key). Returns the paths mended."""
        for rel in report.strays:
            self.remove_group(rel)
        for rel in report.nodes:
            d = self.path / rel
            d.mkdir(parents=True, exist_ok=True)
            (d / META).unlink(missing_ok=True)
            ensure_group(d)
        if ROOT in report.damaged:
            self._update()
        return [*report.strays, *report.nodes, *([ROOT] if ROOT in report.damaged else [])]

    def remove_group(self, rel: str) -> None:
        """Take a group out of the store (it then counts as never written); ``rel`` as ``groups()`` names it."""
        d = (self.path / rel).resolve()
        if d == self.path or self.path not in d.parents:
            raise StoreError(f"{self.path}: {rel!r} is not a group of this store")
        if d.is_file() or d.is_symlink():  # a stray file (verify lists it)
            d.unlink()
        elif d.exists():
            trash = temp_sibling(d, TRASH)
            os.rename(d, trash)  # atomic: readers see the whole group or none
            shutil.rmtree(trash, ignore_errors=True)

    def drop_chunk(self, chunk: int, first_frame: int) -> None:
        """Roll back chunk ``chunk``: the video forgets frames from ``first_frame`` on (the chunk's new frames),
        then the chunk's groups leave in one rename. Killed in between, the store only lacks frames that a
        resume writes again; the run is marked running (unfinished) first."""
        if chunk not in self.chunks():
            raise StoreError(f"{self.path}: chunk {chunk} is not in this store (chunks: {self.chunks()})")
        self.set_status("running")
        if video.shape(self.path / "video") is not None:
            video.truncate(self.path / "video", int(first_frame))
        self.remove_group(f"chunks/{int(chunk)}")

    def reset_video(self) -> None:
        """Replace the video with an empty one of the same shape (to be written again from the chunks)."""
        vdir, a = self.path / "video", self.attrs
        if not a.get("total_frames"):
            return
        tmp = temp_sibling(vdir)  # the shape from the root attrs: the video's own metadata may be what is damaged
        video.create(tmp, int(a["total_frames"]), tuple(a["frame_shape"]), self.video_layout)
        publish(tmp, vdir)

    def collect_garbage(self, older_than_s: float = GC_AGE_S) -> int:
        """Remove leftovers of killed writers (temporary and trash directories); returns how many."""
        n = collect(self.path, older_than_s) + collect(self.path / "chunks", older_than_s)
        n += sum(collect(self._chunk_dir(k), older_than_s) for k in self.chunks())
        cutoff = time.time() - older_than_s
        for p in (self.path / "video").rglob("*.partial"):  # zarr's own temp files from a killed write
            if p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
                n += 1
        return n
