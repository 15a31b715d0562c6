"""The Prefect flow behind ``worldwarp/batch``: one ``worldwarp/longshot`` flow run per item, spread by the work
pool over whatever workers are up, then one summary (csv, plot, Prefect table, MLflow parent run).

Items come from ``stages.batch`` (a folder of photos and/or params.yaml experiments). An item whose store is
already complete is skipped; any other is submitted again and resumes from its store (the longshot flow keeps
the store as the source of truth). A failed item never stops the others: it is listed with its error, and the
batch ends Failed after writing the summary, so a rerun picks up exactly what is missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

from prefect import flow, get_client, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.deployments import run_deployment
from prefect.states import Crashed

from stages.batch import BatchItem, ItemResult, batch_items, is_finished, write_summary, writer_died
from worldwarp.config import WorldWarpConfig

from .checks import preflight
from .longshot import Base, resolve_base, resolve_config
from .tracking import log_batch, prepare_tracking


def _submit(cfg: WorldWarpConfig, item: BatchItem, base: str, params_file: str | None,
            overrides: list[str], batch: str) -> UUID:
    # the item's own overrides first, the batch's after: sizing or remote.url given to the batch wins
    params = {"base": base, "params_file": params_file, "overrides": [*item.overrides, *overrides],
              "run_id": item.name}
    run = run_deployment(cfg.batch.deployment, parameters=params, timeout=0, flow_run_name=f"{batch}-{item.name}")
    return run.id


def _wait(cfg: WorldWarpConfig, ids: dict[str, UUID], resubmit: Callable[[str], UUID]) -> dict[str, Any]:
    """Each item's flow run once final (or as it is when the batch stops waiting). A running item whose
    writer died (its lease is stale) is set Crashed, and submitted again while ``batch.retries`` allow."""
    deadline = time.monotonic() + cfg.batch.timeout_s
    tries = dict.fromkeys(ids, 0)
    with get_client(sync_client=True) as client:
        while True:
            runs = {name: client.read_flow_run(i) for name, i in ids.items()}
            for name, run in runs.items():
                if run.state is not None and run.state.is_running() and writer_died(cfg, name, str(run.id)):
                    client.set_flow_run_state(run.id, Crashed(message="its worker died (the run's lease went stale)"),
                                              force=True)
                    runs[name] = client.read_flow_run(run.id)
                crashed = runs[name].state is not None and runs[name].state.is_crashed()
                if crashed and tries[name] < cfg.batch.retries:
                    tries[name] += 1
                    ids[name] = resubmit(name)
                    runs[name] = client.read_flow_run(ids[name])
            if all(r.state is not None and r.state.is_final() for r in runs.values()) or time.monotonic() > deadline:
                return runs
            time.sleep(cfg.batch.poll_s)


def _result(name: str, run: Any, frames: int) -> ItemResult:
    state = run.state.name if run.state is not None else "unknown"
    done = run.state is not None and run.state.is_completed()
    final = run.state is not None and run.state.is_final()
    error = "" if done else ((run.state.message or "") if final else "still running when the batch stopped waiting")
    return ItemResult(name, state if final else "unfinished", round(run.total_run_time.total_seconds(), 2),
                      frames if done else None, str(run.infrastructure_pid or ""), error.splitlines()[0][:300] if error else "")


@flow(name="worldwarp", log_prints=True, persist_result=False)  # deployment name: worldwarp/batch
def batch(base: Base | None = None, params_file: str | None = None,
          overrides: list[str] | None = None, name: str = "batch", profile: Base | None = None) -> dict[str, Any]:
    """Render many longshots: batch.images (a folder of photos) and/or batch.experiments, each as its own
    ``worldwarp/longshot`` flow run. ``overrides`` (section.key=value) apply to every item and to the batch.
    ``base``: demo (default) or default, as for worldwarp/longshot; ``profile`` is its deprecated old name."""
    overrides = list(overrides or [])
    base = resolve_base(base, profile)
    cfg = resolve_config(base, params_file, overrides)
    items = batch_items(cfg)
    frames = {i.name: resolve_config(base, params_file, [*i.overrides, *overrides]).chunk.total_frames
              for i in items}  # every item's config is validated before any is submitted
    # the batch's own outputs and services; each item's device and models are checked on the worker that runs it
    preflight(cfg, machine=False)
    log = get_run_logger()
    prepare_tracking(cfg)
    results: dict[str, ItemResult] = {}
    ids = {}
    for item in items:
        if is_finished(cfg, item.name):
            results[item.name] = ItemResult(item.name, "skipped", frames=frames[item.name])
        else:
            ids[item.name] = _submit(cfg, item, base, params_file, overrides, name)
    log.info("batch %s: %d items, %d already complete, %d submitted", name, len(items), len(results), len(ids))
    by_name = {i.name: i for i in items}

    def resubmit(item_name: str) -> UUID:
        log.warning("item %s: its run crashed; submitting it again (it resumes from its store)", item_name)
        return _submit(cfg, by_name[item_name], base, params_file, overrides, name)

    for item_name, run in _wait(cfg, ids, resubmit).items():
        results[item_name] = _result(item_name, run, frames[item_name])
    ordered = [results[i.name] for i in items]
    table, plot = write_summary(ordered, Path(cfg.artifacts).resolve() / "batches" / name)
    create_table_artifact([{k: v for k, v in vars(r).items() if k != "extra"} for r in ordered],
                          key=f"batch-{name}".lower().replace("_", "-"), description=f"batch {name}: {table}")
    log_batch(cfg, name, {r.name: r.state for r in ordered}, [table, plot])
    failed = [r for r in ordered if r.state not in ("Completed", "skipped")]
    for r in failed:
        log.error("item %s: %s %s", r.name, r.state, r.error)
    summary = {"items": [vars(r) for r in ordered], "table": str(table), "plot": str(plot)}
    if failed:
        raise RuntimeError(f"batch {name}: {len(failed)} of {len(items)} items did not complete "
                           f"({', '.join(r.name for r in failed)}); see {table}; run the batch again to resume them")
    return summary
