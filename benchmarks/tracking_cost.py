"""What MLflow tracking costs, measured directly on a finished run store: creating the tracking database,
the parent run (params, input image, trajectory plot, cameras), and each chunk's child run (metrics, the
chunk's mp4, the contact sheet, cameras). Run it on a store made at the size you care about, e.g. a
480x720, 49-frame chunk made on the CPU with few 3DGS steps:

    worldwarp demo --run-id big --set resolution.height=480 --set resolution.width=720 --set chunk.frames=49 \\
        --set chunk.count=1 --set splat.steps=2 --set splat.subsample=4 --set tracking.mlflow=false
    python benchmarks/tracking_cost.py artifacts/runs/big.zarr --out /tmp/track
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    from flows.tracking import Tracker
    from worldwarp.config import validate_stored
    from worldwarp.store import RunStore

    store = RunStore.open(a.store)
    res: dict = {"date": datetime.date.today().isoformat(),
                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as d:
        cfg = validate_stored({**store.params, "artifacts": d})
        res["resolution"], res["chunk_frames"] = [cfg.resolution.height, cfg.resolution.width], cfg.chunk.frames
        t = time.perf_counter()
        import mlflow  # noqa: F401

        res["import_s"] = time.perf_counter() - t
        for attempt in ("new_db", "existing_db"):
            if attempt == "existing_db":  # another experiment, so the parent and chunks are logged again
                cfg = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"experiment": "again"})})
            t = time.perf_counter()
            tr = Tracker(cfg, store)
            res[f"{attempt}_open_s"] = time.perf_counter() - t
            t = time.perf_counter()
            tr.start()
            res[f"{attempt}_parent_s"] = time.perf_counter() - t
            chunks = []
            for k in range(cfg.chunk.count):
                t = time.perf_counter()
                tr.chunk(k)
                chunks.append(time.perf_counter() - t)
            res[f"{attempt}_chunk_s"] = chunks
            t = time.perf_counter()
            tr.finish()
            res[f"{attempt}_finish_s"] = time.perf_counter() - t
    (a.out / "tracking_cost.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
