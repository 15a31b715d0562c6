"""Run a whole longshot with plain function calls (no orchestrator): what the CLI and tests use.

The Prefect flow in ``flows/`` calls the very same stage functions with the same keys; both resume
from whatever the store already holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from worldwarp.config import WorldWarpConfig
from worldwarp.store import RunStore, new_run_id

from . import STAGES, denoise, gaussians, geometry, handoff, warp
from .inputs import prepare_inputs
from .keys import all_keys, code_version

# knobs that change where or how a run is reported, never what it computes
NOT_RUN_PARAMS = {"artifacts", "tracking", "eval", "experiments"}
MODULES = {"geometry": geometry, "gaussians": gaussians, "warp": warp, "denoise": denoise, "handoff": handoff}


def open_run(cfg: WorldWarpConfig, run_id: str | None = None, replace: bool = False) -> tuple[RunStore, dict]:
    """Create (or reopen, to resume) the run's store and write its input group.

    ``replace`` lets a named run take new params (DVC experiments): stages then recompute by content key.
    """
    inputs = prepare_inputs(cfg)
    # where the store lives is not part of what the run computes
    params = cfg.model_dump(mode="json", exclude=NOT_RUN_PARAMS)
    rid = run_id or new_run_id(params, inputs.digest)
    store = RunStore.open_or_create(Path(cfg.artifacts) / "runs", rid, params=params,
                                    input_digest=inputs.digest, code_version=code_version("geometry"),
                                    total_frames=cfg.chunk.total_frames,
                                    frame_shape=(cfg.resolution.height, cfg.resolution.width),
                                    replace_params=replace)
    store.write_input(inputs.arrays())
    return store, all_keys(cfg, inputs.digest)


def run_stage(store: RunStore, k: int, stage: str, cfg: WorldWarpConfig, key: str):
    return MODULES[stage].run(store, k, cfg, key)


def run_longshot(cfg: WorldWarpConfig, run_id: str | None = None,
                 on_stage: Callable[[int, str], None] | None = None,
                 on_open: Callable[[RunStore], None] | None = None,
                 on_chunk: Callable[[int], None] | None = None, replace: bool = False) -> RunStore:
    store, keys = open_run(cfg, run_id, replace)
    if on_open:
        on_open(store)
    store.set_status("running")
    try:
        for k in range(cfg.chunk.count):
            for stage in STAGES:
                if on_stage:
                    on_stage(k, stage)
                run_stage(store, k, stage, cfg, keys[(k, stage)])
            if on_chunk:
                on_chunk(k)
    except BaseException:
        store.set_status("failed")
        raise
    store.set_status("complete")
    return store
