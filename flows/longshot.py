"""The Prefect flow ``worldwarp``: every chunk is the five stage tasks, over the run's Zarr store.

Task results are small JSON references (store path, chunk, group, key), never arrays. A task's cache
key is the stage's content key (scoped to the store), and the cache is refreshed whenever the store
lacks that stage's completion mark, so the store stays the source of truth: a completed stage shows
as Cached in the Prefect UI, a missing one recomputes.
"""

import hashlib
import logging
import warnings
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.exceptions import MissingContextError
from prefect.runtime import flow_run
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from stages import STAGES
from stages.common import apply_threads
from stages.runner import MODULES, finish_chunk, leased_run, run_stage
from worldwarp.config import ConfigError, WorldWarpConfig, load_params
from worldwarp.config.demo import DEMO_OVERRIDES
from worldwarp.store import RunStore

from .checks import check_knobs, preflight, user_errors
from .tracking import make_tracker


def _cache_key(_ctx, params: dict[str, Any]) -> str:
    scope = hashlib.sha256(params["store_path"].encode()).hexdigest()[:12]
    return f"{params['key']}-{scope}"


def _transient(_task, _run, state) -> bool:
    """Retry only failures that may pass: not bad input or bad config."""
    try:
        state.result()
    except (*user_errors(), ValueError, KeyError):
        return False
    except Exception:
        return True
    return False


@task(name="stage", cache_key_fn=_cache_key, persist_result=True, result_serializer="json",
      retries=2, retry_delay_seconds=2, retry_condition_fn=_transient)
def stage_task(store_path: str, k: int, stage: str, cfg_json: str, key: str) -> dict[str, Any]:
    cfg = WorldWarpConfig.model_validate_json(cfg_json)
    ref = run_stage(RunStore.open(store_path), k, stage, cfg, key)
    return ref.to_dict()


Base = Literal["demo", "default"]


def resolve_base(base: str | None, profile: str | None) -> str:
    """The flows' ``base`` (demo or default), also accepted under its old name ``profile`` with a warning: that
    name is the inference profile's too (``overrides=["profile=official"]``)."""
    if profile is not None:
        if base is not None and base != profile:
            raise ConfigError(f"base={base} and profile={profile} disagree; give only base (profile is its old name)")
        msg = f"the flow parameter profile={profile} is deprecated: pass base={profile} (profile is the inference knob)"
        warnings.warn(msg, FutureWarning, stacklevel=2)
        try:
            get_run_logger().warning(msg)
        except MissingContextError:
            pass
    chosen = base if base is not None else profile if profile is not None else "demo"
    if chosen not in ("demo", "default"):
        raise ConfigError(f"base={chosen!r}: one of demo, default")
    return chosen


def resolve_config(base: str, params_file: str | None, overrides: list[str]) -> WorldWarpConfig:
    """The run's config; an override it does not use is an error, a params file's a warning (config/applies.py)."""
    layer = DEMO_OVERRIDES if base == "demo" else []
    cfg = load_params(params_file, [*layer, *overrides])
    for line in check_knobs(cfg, overrides, params_file):
        logging.getLogger("worldwarp").warning(line)
    return cfg


@flow(name="worldwarp", log_prints=True, persist_result=False)
def worldwarp(base: Base | None = None, params_file: str | None = None,
              overrides: list[str] | None = None, run_id: str | None = None,
              store_path: str | None = None, profile: Base | None = None) -> dict[str, Any]:
    """Generate a longshot. base=demo (the default) is the embedded CPU demo; 'default' is params.yaml's
    defaults. ``overrides`` are section.key=value strings validated by the same config model as params.yaml.
    ``store_path`` continues that store (a resume) instead of ``<artifacts>/runs/<run_id>.zarr``.
    ``profile`` is base's deprecated old name."""
    cfg = resolve_config(resolve_base(base, profile), params_file, overrides or [])
    said = preflight(cfg, new_run=store_path is None)  # the CLI's checks, before a store exists: no failed run left
    log = get_run_logger()
    log.info("run: %s", apply_threads(cfg))
    for line in said:
        log.info(line)
    job = str(flow_run.id) if flow_run.id else None  # a batch watching this run finds it in the lease
    with leased_run(cfg, run_id, store_path=store_path, job=job) as (store, keys, guard):
        tracker = make_tracker(cfg, store)
        tracker.start()
        store.set_status("running")
        results = Path(cfg.artifacts).resolve() / "prefect-results"
        progress = create_progress_artifact(0.0, key="longshot-progress", description=f"run {store.run_id}")
        try:
            for k in range(cfg.chunk.count):
                for stage in STAGES:
                    guard.check()  # taken over (we were presumed dead): stop before writing more
                    complete = store.is_complete(k, MODULES[stage].GROUP, keys[(k, stage)])
                    t = stage_task.with_options(task_run_name=f"chunk{k:03d}-{stage}", result_storage=results,
                                                refresh_cache=not complete)
                    t(str(store.path), k, stage, cfg.model_dump_json(), keys[(k, stage)])
                    guard.sync(k)
                # per chunk, not per stage: each update is an API call on the chunk's critical path
                update_progress_artifact(progress, 100.0 * (k + 1) / cfg.chunk.count)
                tracker.chunk(k)
                finish_chunk(store, cfg, k, guard)
                log.info("chunk %d/%d done", k + 1, cfg.chunk.count)
        except BaseException:
            if not guard.lost:  # the new owner's status is not ours to overwrite
                store.set_status("failed")
                guard.sync()
            tracker.finish("FAILED")
            raise
        store.set_status("complete")
        guard.finish()
        tracker.finish("FINISHED", _video(store))
    return {"run_id": store.run_id, "store": str(store.path), "frames": cfg.chunk.total_frames}


def _video(store: RunStore) -> Path:
    from worldwarp.export import export_mp4

    return export_mp4(store, store.path.with_suffix(".mp4"))


def serve() -> None:
    """Register and serve the deployment ``worldwarp/longshot`` against the configured Prefect API."""
    worldwarp.serve(name="longshot", description="WorldWarp longshot; no parameters = the embedded CPU demo")


if __name__ == "__main__":
    serve()
