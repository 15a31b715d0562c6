"""The world map against the scan of every stored frame it replaced (issue 26): per chunk of a finished world run,
the frames each retrieves, what they reach by the scan's own measure, how many frames each scores, and seconds.

Both run on the run's own stored geometry (its history frames' depth and cameras), so the comparison is of the
retrieval alone: the scan scores every earlier chunk's history frames (retrieval before the map); the map merges
each chunk's frames in (``memory.voxel``, ``memory.redundancy``) and scores the frames it kept. `reached` is the
scan's objective (the best quality per cell over history and picks, summed) for the map's picks over the scan's
picks. The row of the run's own settings must give the picks the run recorded (checked).

    OMP_NUM_THREADS=1 python benchmarks/world_map.py STORE.zarr --voxel 0.5 1 2 --redundancy 0.8 0.9 1 \\
        --out docs/benchmarks/world_map.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.common import span  # noqa: E402
from stages.inputs import chunk_cameras  # noqa: E402
from stages.memory import index_of  # noqa: E402
from worldwarp.config import WorldWarpConfig  # noqa: E402
from worldwarp.memory import coverage, empty_map, merge, retrieve  # noqa: E402
from worldwarp.memory.retrieval import scored_cameras  # noqa: E402
from stored_run import open_stored  # noqa: E402
from worldwarp.store import RunStore  # noqa: E402


def _chunk_inputs(store: RunStore, cfg: WorldWarpConfig):
    """Per chunk: its history frames' index and its new cameras (K, w2c, width, height)."""
    inp = store.read_input()
    out = []
    for k in range(cfg.chunk.count):
        if not store.stage_status(k, "gaussians").complete:  # a run still going: the chunks it finished
            break
        geo = store.read_stage(k, "geometry")
        sp = span(cfg, k)
        cams = chunk_cameras(inp, sp)
        new = slice(sp.history, None)
        out.append((index_of(geo, cfg), (cams.K[new].numpy(), cams.w2c[new].numpy(), cams.width, cams.height)))
    return out


def _stored(chunks, k: int):
    """The index of every history frame of chunks 0..k-1, and their (chunk, frame) ids."""
    ids = [(j, i) for j in range(k) for i in range(len(chunks[j][0].z))]
    cand = (np.concatenate([chunks[j][0].xyz for j in range(k)]), np.concatenate([chunks[j][0].z for j in range(k)]),
            np.asarray([j for j, _ in ids]))
    return cand, ids


def reached(cand, hist, cams, chosen: list[int], cfg) -> float:
    K, w2c, width, height = cams
    c = scored_cameras(len(K), cfg.memory.cameras)
    q = coverage(*(np.concatenate([a, b]) for a, b in zip(cand, hist)), K[c], w2c[c], width, height, cfg.memory)
    return float(np.max(q[[*chosen, *range(len(cand[1]), len(q))]], 0).sum())


def scan(chunks, cfg) -> list[dict]:
    rows = []
    for k in range(1, len(chunks)):
        own, cams = chunks[k]
        cand, ids = _stored(chunks, k)
        t0 = time.perf_counter()
        r = retrieve(cand, (own.xyz, own.z, np.full(len(own.z), k)), *cams, cfg.memory)
        rows.append({"chunk": k, "picks": [list(ids[c]) for c in r.chosen], "frames": len(ids),
                     "seconds": round(time.perf_counter() - t0, 4), "_chosen": r.chosen})
    return rows


def mapped(chunks, cfg, scan_rows) -> list[dict]:
    mc = cfg.memory
    m, rows = merge(empty_map(), chunks[0][0], 0, voxel=mc.voxel, redundancy=mc.redundancy, age_decay=mc.age_decay), []
    for k in range(1, len(chunks)):
        own, cams = chunks[k]
        hist = (own.xyz, own.z, np.full(len(own.z), k))
        t0 = time.perf_counter()
        r = retrieve((m.xyz, m.z, m.frames[:, 0]), hist, *cams, mc)
        t1 = time.perf_counter()
        picks, n_cand = [m.frames[c].tolist() for c in r.chosen], len(m.frames)
        m = merge(m, own, k, voxel=mc.voxel, redundancy=mc.redundancy, age_decay=mc.age_decay)
        t2 = time.perf_counter()
        cand, ids = _stored(chunks, k)
        mine = [ids.index(tuple(p)) for p in picks]
        ratio = reached(cand, hist, cams, mine, cfg) / reached(cand, hist, cams, scan_rows[k - 1]["_chosen"], cfg)
        rows.append({"chunk": k, "picks": picks, "reached": round(ratio, 5), "frames_scored": n_cand,
                     "map_frames": int(len(m.frames)), "map_bytes": m.nbytes, "seconds": round(t1 - t0, 4),
                     "merge_seconds": round(t2 - t1, 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path)
    ap.add_argument("--voxel", type=float, nargs="+", default=None)
    ap.add_argument("--redundancy", type=float, nargs="+", default=None)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    store, cfg = open_stored(a.store)
    if cfg.memory.mode != "world":
        raise SystemExit(f"{a.store}: memory.mode={cfg.memory.mode}; the world map is world mode's index")
    chunks = _chunk_inputs(store, cfg)
    recorded = [[[r["chunk"], r["frame"]] for r in store.stage_attrs(k, "gaussians").get("retrieved", [])]
                for k in range(1, len(chunks))]
    res = {"store": str(a.store), "date": datetime.date.today().isoformat(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "threads": os.environ.get("OMP_NUM_THREADS"), "recorded": recorded,
           "run_settings": {"voxel": cfg.memory.voxel, "redundancy": cfg.memory.redundancy},
           "scan": scan(chunks, cfg),
           "map": {}}
    for v in a.voxel or [cfg.memory.voxel]:
        for red in a.redundancy or [cfg.memory.redundancy]:
            c = cfg.model_copy(update={"memory": cfg.memory.model_copy(update={"voxel": v, "redundancy": red})})
            rows = mapped(chunks, c, res["scan"])
            if (v, red) == (cfg.memory.voxel, cfg.memory.redundancy) and [r["picks"] for r in rows] != recorded:
                raise SystemExit("the map at the run's own settings does not give the picks the run recorded")
            same = sum(r["picks"] == s["picks"] for r, s in zip(rows, res["scan"]))
            res["map"][f"voxel={v} redundancy={red}"] = {"same_picks_as_scan": f"{same}/{len(rows)}", "chunks": rows}
            print(f"voxel {v} redundancy {red}: same picks as the scan in {same}/{len(rows)} chunks, reached min "
                  f"{min(r['reached'] for r in rows):.4f} mean {np.mean([r['reached'] for r in rows]):.4f}; frames in "
                  f"the map at the end {rows[-1]['map_frames']} (stored {res['scan'][-1]['frames'] + len(chunks[-1][0].z)}"
                  f"); retrieval s last chunk {rows[-1]['seconds']} (scan {res['scan'][-1]['seconds']})")
    for r in res["scan"]:
        r.pop("_chosen")
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
