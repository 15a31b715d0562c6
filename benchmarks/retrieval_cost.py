"""What world-memory retrieval costs per chunk as a run grows (issue 26): chunk k scores every stored frame of
chunks 0..k-1 (5 history frames x ``memory.index_points`` points each) in at most ``memory.cameras`` of its new
cameras. Synthetic but full-size: 480x720, 49-frame chunks (44 new cameras), frames along a forward path looking at
a wall of points 3-8 m ahead; the retrieval itself (worldwarp.memory.retrieve), timed per chunk k.

    OMP_NUM_THREADS=1 python benchmarks/retrieval_cost.py --chunks 2 8 22 46 --out docs/benchmarks/retrieval_cost.json
    OMP_NUM_THREADS=1 python benchmarks/retrieval_cost.py --chunks 2 8 22 --cameras 44 --no-cull --out (the same)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402

from worldwarp.config.memory import MemoryConfig  # noqa: E402
from worldwarp.memory import frame_index, index_stride, retrieve  # noqa: E402

H, W, F = 480, 720, 600.0


def cams(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    K = np.tile(np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]], np.float32), (len(z), 1, 1))
    w2c = np.tile(np.eye(4, dtype=np.float32), (len(z), 1, 1))
    w2c[:, 2, 3] = -z  # camera centre at (0, 0, z), looking along +z
    return K, w2c


def index(z: np.ndarray, age: int, cfg: MemoryConfig, rng: np.random.Generator):
    K, w2c = cams(z)
    depth = rng.uniform(3.0, 8.0, (len(z), H, W)).astype(np.float32)
    idx = frame_index(depth, K, w2c, stride=index_stride(H, W, cfg.index_points))
    return idx.xyz, idx.z, np.full(len(z), age)


def measure(chunks: int, cameras: int, repeat: int, cull: bool) -> dict:
    cfg = MemoryConfig(mode="world", cameras=cameras)
    rng = np.random.default_rng(0)
    step = 0.02  # metres per frame
    stored = [index(np.arange(44 * j + 39, 44 * j + 44) * step, j, cfg, rng) for j in range(chunks)]
    cand = tuple(np.concatenate(p) for p in zip(*stored))
    hist = index(np.arange(44 * chunks - 5, 44 * chunks) * step, chunks, cfg, rng)
    K, w2c = cams(np.arange(44 * chunks, 44 * chunks + 44) * step)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = retrieve(cand, hist, K, w2c, W, H, cfg, cull=cull)
        times.append(time.perf_counter() - t0)
    return {"chunk": chunks, "stored_frames": len(cand[2]), "cameras": cameras, "frustum_cull": cull,
            "seconds": min(times), "picked": len(r.chosen)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", nargs="+", type=int, default=[2, 8, 22, 46])
    ap.add_argument("--cameras", nargs="+", type=int, default=[44, 8])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cull", action="store_true", help="score every stored frame (the cost before in_view)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rows = [measure(k, c, a.repeat, not a.no_cull) for c in a.cameras for k in a.chunks]
    for r in rows:
        print(json.dumps(r), flush=True)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, load "
                      f"{os.getloadavg()[0]:.1f}), numpy {np.__version__}", "rows": rows}
    if a.out:  # appended: one file holds the runs with and without --no-cull
        old = json.loads(a.out.read_text())["runs"] if a.out.exists() else []
        a.out.write_text(json.dumps({"runs": [*old, res]}, indent=1))


if __name__ == "__main__":
    main()
