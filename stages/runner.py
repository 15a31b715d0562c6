"""Run a whole longshot with plain function calls (no orchestrator): what the CLI and tests use.

The Prefect flow in ``flows/`` calls the very same stage functions with the same keys; both resume
from whatever the store already holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from worldwarp.config import WorldWarpConfig
from worldwarp.config.stored import LATER_KNOBS, stable_dump
from worldwarp.preflight import trajectory_record
from worldwarp.store import RunStore, StoreError, new_run_id
from worldwarp.store.keys import check_name
from worldwarp.store.lease import Lease
from worldwarp.store.remote import RemoteStore, remote_store_url

from . import STAGES, denoise, gaussians, geometry, handoff, warp
from .common import free_cuda_cache, span
from .guard import RunGuard
from .inputs import prepare_inputs
from .keys import all_keys, code_version, upstream

# knobs that change where, how fast or how a run is reported (or belong to another benchmark), not what it asks for
NOT_RUN_PARAMS = {"artifacts", "tracking", "eval", "experiments", "real_photo", "revisit", "lease", "remote", "batch", "worker",
                  "store", "threads", "lowvram", "render_budget"}
MODULES = {"geometry": geometry, "gaussians": gaussians, "warp": warp, "denoise": denoise, "handoff": handoff}
log = logging.getLogger("worldwarp.store")


def run_settings(cfg: WorldWarpConfig) -> dict:
    """What a resume needs to report where the run first reported (kept in the store, not in its params)."""
    out = {"artifacts": str(Path(cfg.artifacts).resolve()), "tracking": cfg.tracking.model_dump(mode="json")}
    if cfg.remote.url:  # a resume keeps copying to the same shared storage
        out["remote"] = cfg.remote.model_dump(mode="json")
    if cfg.lowvram:  # a resume frees models between stages as the run did (only said when on: old stores unchanged)
        out["lowvram"] = True
    return out


def stored_config(store: RunStore) -> WorldWarpConfig:
    """The config a store was run with, as a resume rebuilds it: its params and its settings."""
    from worldwarp.config import validate_stored

    return validate_stored({**store.params, **store.settings()})


def open_run(cfg: WorldWarpConfig, run_id: str | None = None, replace: bool = False,
             store_path: Path | str | None = None) -> tuple[RunStore, dict]:
    """Create (or reopen, to resume) the run's store, repair what is damaged, and write its input group.

    ``replace`` lets a named run take new params (DVC experiments): stages then recompute by content key.
    ``store_path`` continues that very store (``worldwarp resume``) instead of ``<artifacts>/runs/<run id>.zarr``.
    """
    return _open_planned(cfg, _plan(cfg, run_id, replace, store_path))


@contextmanager
def leased_run(cfg: WorldWarpConfig, run_id: str | None = None, replace: bool = False,
               store_path: Path | str | None = None, job: str | None = None) -> Iterator[tuple[RunStore, dict, RunGuard]]:
    """``open_run`` under the run's lease: taken before the store is touched, held (heartbeat) until the
    block ends. A second job on the same run fails here with a one-line StoreError, before writing anything.

    With ``remote.url`` the lease lives beside the shared copy (so jobs on other machines are refused too),
    the shared copy's finished groups are pulled in before the store is opened, and ``guard.sync`` copies
    new ones back. ``job`` names what runs it (a Prefect flow run id) in the lease."""
    plan = _plan(cfg, run_id, replace, store_path)
    remote = RemoteStore(remote_store_url(cfg.remote.url, plan.path.name[:-len(".zarr")])) if cfg.remote.url else None
    if not cfg.lease.enabled:
        guard = RunGuard(None, remote)
        yield (*_open_guarded(cfg, plan, guard), guard)
        return
    where = remote.url if remote else plan.path
    with Lease(where, stale_s=cfg.lease.stale_s, heartbeat_s=cfg.lease.heartbeat_s, job=job) as lease:
        guard = RunGuard(lease, remote)
        yield (*_open_guarded(cfg, plan, guard), guard)


def _open_guarded(cfg: WorldWarpConfig, plan: "_Plan", guard: RunGuard) -> tuple[RunStore, dict]:
    guard.pull(plan.path)
    store, keys = _open_planned(cfg, plan)
    guard.store = store
    guard.sync()  # groups this machine finished but had not copied yet (killed between a stage and its copy)
    return store, keys


@dataclass(frozen=True)
class _Plan:
    inputs: Any
    common: dict
    path: Path
    create: str | None  # the run id to create under <artifacts>/runs, or None to reopen ``path``


def run_params(cfg: WorldWarpConfig) -> dict[str, Any]:
    """The params a store keeps. fresh and append write ``splat.fresh`` as before ``memory.mode`` existed, so stores
    (and run ids) made before it resume unchanged; world adds its ``memory`` section."""
    params = cfg.model_dump(mode="json", exclude=NOT_RUN_PARAMS | {"memory"})
    params.update({name: stable_dump(name, params[name]) for name in LATER_KNOBS if name in params})
    if cfg.memory.mode == "world":
        params["memory"] = stable_dump("memory", cfg.memory.model_dump(mode="json"))
    else:  # the other memory knobs are defaults here (the config refuses them otherwise)
        params["splat"]["fresh"] = cfg.memory.mode == "fresh"
    return params


def _plan(cfg: WorldWarpConfig, run_id: str | None, replace: bool, store_path: Path | str | None) -> _Plan:
    inputs = prepare_inputs(cfg)
    # where the store lives is not part of what the run computes
    params = run_params(cfg)
    common = dict(params=params, input_digest=inputs.digest, code_version=code_version("geometry"),
                  total_frames=cfg.chunk.total_frames, frame_shape=(cfg.resolution.height, cfg.resolution.width),
                  replace_params=replace, settings=run_settings(cfg), plan=run_plan(cfg))
    if store_path is not None:
        return _Plan(inputs, common, Path(store_path).resolve(), None)
    rid = run_id or new_run_id(params, inputs.digest)
    return _Plan(inputs, common, (Path(cfg.artifacts) / "runs" / f"{check_name(rid, 'run id')}.zarr").resolve(), rid)


def _open_planned(cfg: WorldWarpConfig, plan: _Plan) -> tuple[RunStore, dict]:
    if plan.create is None:
        store = RunStore.reopen(plan.path, **plan.common)
    else:
        store = RunStore.open_or_create(Path(cfg.artifacts) / "runs", plan.create, **plan.common)
    keys = all_keys(cfg, plan.inputs.digest)
    heal(store, cfg, keys)
    store.write_input(plan.inputs.arrays(), plan.inputs.attrs)
    # what the path is (params alone keep the preset's default beside the movements that override it)
    store.record(trajectory=trajectory_record(cfg, plan.inputs.K, plan.inputs.w2c, cfg.resolution.width))
    return store, keys


def heal(store: RunStore, cfg: WorldWarpConfig, keys: dict) -> list[str]:
    """Verify the whole store before any group is trusted; mend what needs no recompute (strays, plain groups'
    zarr.json, the root's seal: RunStore.repair), drop the damaged groups and every stage downstream of a
    dropped or missing one, so they recompute; rebuild a damaged video from the chunks' frames.

    A damaged input group is dropped alone: it is rewritten from its sources and checked against the
    run's input digest, so what downstream stages read cannot change. Returns the groups dropped.
    """
    report = store.verify(deep=True)
    mended = store.repair(report)
    damaged = {rel: bad for rel, bad in report.damaged.items() if rel not in mended}
    if damaged:  # unfinished until everything is back: said first, so a repair killed part-way leaves it said
        store.set_status("running")
    side = _damaged_side_groups(store, damaged, keys)
    dropped = (["input"] if "input" in damaged else []) + list(side)
    for rel in dropped:
        store.remove_group(rel)
    bad, stages = _stages_to_redo(store, cfg, keys, set(damaged), set(side.values()))
    if "video" in damaged:
        store.reset_video()
    # a view must not point at frames groups that recompute (dropped, or stale under replaced params): before they go
    store.forget_video_chunks({k for k, stage in bad if stage == "denoise"})
    for rel in reversed(stages):  # the last written first: a repair killed part-way leaves what a run would
        store.remove_group(rel)
    dropped += stages + (["video"] if "video" in damaged else [])
    _refill_video(store, cfg, bad)
    for rel in report.damaged:
        how = "mended" if rel in mended else "recomputing it"
        log.warning("%s: %s is damaged (%s); %s", store.path, rel, report.damaged[rel][0], how)
    after = [rel for rel in dropped if rel not in report.damaged]
    if after:
        log.warning("%s: recomputing %d stages downstream of it too (%s)", store.path, len(after), ", ".join(after))
    return dropped


def run_plan(cfg: WorldWarpConfig) -> dict:
    """Which groups a complete run has (kept in the store: ``verify`` finds a missing one by it): each chunk's
    stage groups in the order a run writes them, and the groups a chunk may or may not keep."""
    return {"chunks": cfg.chunk.count, "groups": [MODULES[s].GROUP for s in STAGES],
            "optional": [warp.RENDER, denoise.LATENTS]}


def _stages_to_redo(store: RunStore, cfg: WorldWarpConfig, keys: dict, damaged: set[str],
                    owners: set) -> tuple[set[tuple[int, str]], list[str]]:
    """(every stage that must run, the existing groups among them to drop) in DAG order."""
    bad: set[tuple[int, str]] = set()
    drop = []
    for k in range(cfg.chunk.count):
        for stage in STAGES:
            rel = f"chunks/{k}/{MODULES[stage].GROUP}"
            hit = rel in damaged or (k, stage) in owners
            after_bad = any(u in bad for u in upstream(stage, k, cfg))
            stale = not hit and not store.is_complete(k, MODULES[stage].GROUP, keys[(k, stage)])
            if hit or after_bad or stale:
                bad.add((k, stage))
            # a stale group (other key: not yet run, or params replaced) is simply overwritten when it runs
            if (hit or (after_bad and not stale)) and (store.path / rel).exists():
                drop.append(rel)
    # a chunk that is denoised again needs its warped render: one dropped after the chunk finished
    # (store.keep_renders=false) is rendered again from the stored Gaussians
    for k in range(cfg.chunk.count):
        if (k, "denoise") in bad and (k, "warp") not in bad and not warp.has_render(store, k, keys[(k, "warp")]):
            bad.add((k, "warp"))
            if (store.path / f"chunks/{k}/{warp.GROUP}").exists():
                drop.append(f"chunks/{k}/{warp.GROUP}")
    return bad, drop


def finish_chunk(store: RunStore, cfg: WorldWarpConfig, k: int, guard: RunGuard | None = None) -> None:
    """After chunk k: drop the warped renders of the finished chunks before it unless kept (store.keep_renders).
    One chunk behind: the newest chunk stays inspectable, and MLflow logging, which runs in the background while
    the next chunk computes, has that chunk's time to read it. Every earlier chunk, so a render left by a run
    killed before this step goes on the next pass."""
    if cfg.store.keep_renders:
        return
    for j in range(k):
        if warp.render_kept(store, j) and store.stage_status(j, MODULES["handoff"].GROUP).complete:
            store.remove_group(f"chunks/{j}/{warp.RENDER}")
            if guard:
                guard.drop(f"chunks/{j}/{warp.RENDER}")


def _refill_video(store: RunStore, cfg: WorldWarpConfig, bad: set[tuple[int, str]]) -> None:
    """Put back frames of finished handoffs that the video lacks (after a reset, or a reset killed
    half-way); the handoffs that recompute write their own."""
    done = store.video_ranges()
    for k in range(cfg.chunk.count):
        sp = span(cfg, k)
        if (k, "handoff") not in bad and not any(a <= sp.new_start and sp.stop <= b for a, b in done):
            handoff.add_to_video(store, cfg, k)


def _damaged_side_groups(store: RunStore, damaged: dict, keys: dict) -> dict[str, tuple[int, str] | None]:
    """Damaged chunk groups a stage writes besides its own (denoise's ``latents``), each with the stage
    whose key it holds: that stage recomputes, and writes it again."""
    main = {m.GROUP for m in MODULES.values()}
    out: dict[str, tuple[int, str] | None] = {}
    for rel in damaged:
        parts = rel.split("/")
        if parts[0] != "chunks" or parts[2] in main:
            continue
        k = int(parts[1])
        try:
            key = store.stage_status(k, parts[2]).key
        except StoreError:  # its zarr.json is what is damaged: no key to match, so redo the whole chunk
            out[rel] = (k, STAGES[0])
            continue
        out[rel] = next(((k, s) for s in STAGES if keys.get((k, s)) == key), None)
    return out


def run_stage(store: RunStore, k: int, stage: str, cfg: WorldWarpConfig, key: str):
    ref = MODULES[stage].run(store, k, cfg, key)
    if cfg.lowvram:  # what the stage left in CUDA's cache (3DGS buffers, activations) is not held through the next
        free_cuda_cache()
    return ref


def run_longshot(cfg: WorldWarpConfig, run_id: str | None = None,
                 on_stage: Callable[[int, str], None] | None = None,
                 on_open: Callable[[RunStore], None] | None = None,
                 on_chunk: Callable[[int], None] | None = None, replace: bool = False,
                 store_path: Path | str | None = None) -> RunStore:
    with leased_run(cfg, run_id, replace, store_path) as (store, keys, guard):
        if on_open:
            on_open(store)
        store.set_status("running")
        try:
            for k in range(cfg.chunk.count):
                for stage in STAGES:
                    guard.check()  # taken over (we were presumed dead): stop before writing more
                    if on_stage:
                        on_stage(k, stage)
                    run_stage(store, k, stage, cfg, keys[(k, stage)])
                    guard.sync(k)
                if on_chunk:
                    on_chunk(k)
                finish_chunk(store, cfg, k, guard)
        except BaseException:
            if not guard.lost:  # the new owner's status is not ours to overwrite
                store.set_status("failed")
                guard.sync()
            raise
        store.set_status("complete")
        guard.finish()
    return store
