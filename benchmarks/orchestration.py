"""Orchestration overhead per chunk on the CPU demo: Prefect flow + Zarr store + MLflow tracking vs stage work.

Runs the embedded demo (or a --set-adjusted variant) three ways on fresh artifact roots:
  plain    stages.runner.run_longshot (store only)
  tracked  plain + MLflow (parent run, one child run per chunk with metrics and artifacts)
  prefect  the Prefect flow `worldwarp` (tasks, result persistence, cache lookups, progress artifact, MLflow)
Stage work is the sum of the stages' own compute_seconds recorded in the store; overhead is wall minus work.
Prints a Markdown table and writes JSON to --out.

    python benchmarks/orchestration.py --out /tmp/orch [--set chunk.count=3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cfg(root: Path, extra: list[str], mlflow: bool):
    from worldwarp.config import load_params
    from worldwarp.config.demo import DEMO_OVERRIDES

    return load_params(None, [*DEMO_OVERRIDES, *extra, f"artifacts={root}", f"tracking.mlflow={str(mlflow).lower()}"])


def _work(store, chunks: int) -> float:
    from stages import STAGES
    from stages.runner import MODULES

    return sum(store.stage_attrs(k, MODULES[s].GROUP)["compute_seconds"] for k in range(chunks) for s in STAGES)


def plain(root: Path, extra: list[str], mlflow: bool) -> tuple[float, float, int]:
    from flows.tracking import make_tracker
    from stages.runner import run_longshot

    cfg = _cfg(root, extra, mlflow)
    tracker = None

    def opened(store):
        nonlocal tracker
        tracker = make_tracker(cfg, store)
        tracker.start()

    t0 = time.perf_counter()
    store = run_longshot(cfg, "bench", on_open=opened, on_chunk=lambda k: tracker.chunk(k))
    tracker.finish("FINISHED")
    wall = time.perf_counter() - t0
    return wall, _work(store, cfg.chunk.count), cfg.chunk.count


def prefect(root: Path, extra: list[str]) -> tuple[float, float, int]:
    from flows.longshot import worldwarp
    from worldwarp.store import RunStore

    cfg = _cfg(root, extra, True)
    overrides = [f"artifacts={root}", "tracking.mlflow=true", *extra]
    t0 = time.perf_counter()
    res = worldwarp(base="demo", overrides=overrides, run_id="bench")
    wall = time.perf_counter() - t0
    return wall, _work(RunStore.open(res["store"]), cfg.chunk.count), cfg.chunk.count


def _warm_prefect() -> float:
    """Start Prefect's ephemeral API once, so its start-up is not charged to the chunks."""
    from prefect import flow

    @flow
    def noop() -> int:
        return 1

    t0 = time.perf_counter()
    noop()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", dest="extra", action="append", default=[])
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("PREFECT_HOME", str(Path(d) / "prefect"))
        rows["plain"] = plain(Path(d) / "plain", a.extra, False)
        rows["tracked"] = plain(Path(d) / "tracked", a.extra, True)
        startup = _warm_prefect()
        rows["prefect"] = prefect(Path(d) / "prefect", a.extra)
    out = {"date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
           f"{os.cpu_count()} cores", "python": platform.python_version(), "prefect_startup_s": round(startup, 2),
           "modes": {}}
    print("| mode | chunks | wall s | stage work s | overhead s/chunk | overhead % |\n|---|---|---|---|---|---|")
    for mode, (wall, work, n) in rows.items():
        over = (wall - work) / n
        out["modes"][mode] = {"wall_s": wall, "work_s": work, "chunks": n, "overhead_s_per_chunk": over,
                              "overhead_pct": 100 * (wall - work) / wall}
        print(f"| {mode} | {n} | {wall:.1f} | {work:.1f} | {over:.2f} | {100 * (wall - work) / wall:.1f} |")
    (a.out / "orchestration.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "modes"}))


if __name__ == "__main__":
    main()
