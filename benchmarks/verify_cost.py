"""Cost of checking a run store: `RunStore.verify` deep (crc32c of every file) and quick (sizes only).

    python benchmarks/verify_cost.py artifacts/runs/<id>.zarr [--repeat 3]
    python benchmarks/verify_cost.py /tmp/long.zarr --synthetic 1017   # build a store of a 1,017-frame run first

``--synthetic N`` writes a complete store with the layout, groups, array shapes and dtypes of an N-frame run at
``--height`` x ``--width`` (49-frame chunks, 5 history frames: 23 chunks for 1,017 frames), through the store's
own writer (precision table, manifests, seals, plan, video view), without computing anything: the frames are
noise of limited range (they compress about as the classical filler's frames do) and the Gaussians random.

Prints the store's size and file count, then the best wall time of each mode (the first deep pass
also warms the page cache, so the figures are for a store already in memory; a cold read adds the
disk's read time for its size). Nothing is written into the store.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import google_crc32c
import numpy as np

from worldwarp.store import RunStore
from worldwarp.store.atomic import tree_nbytes

FRAMES, HISTORY, GAUSSIANS = 49, 5, 260_000  # params.yaml's chunk; ~9 MB of Gaussians a chunk (docs/STORE.md)
GROUPS = ["geometry", "gaussians", "warp", "frames", "handoff"]


def build_synthetic(path: Path, total: int, h: int, w: int) -> RunStore:
    """A finished store of ``total`` frames with a real run's groups and array shapes (see the module doc)."""
    rng = np.random.default_rng(0)
    count = 1 + -(-(total - FRAMES) // (FRAMES - HISTORY))
    total = FRAMES + (count - 1) * (FRAMES - HISTORY)
    store = RunStore.create(path.parent, path.name.removesuffix(".zarr"), params={"synthetic": total},
                            input_digest="synthetic", code_version="synthetic", total_frames=total, frame_shape=(h, w),
                            plan={"chunks": count, "groups": GROUPS, "optional": ["render", "latents"]})
    cams = {"K": rng.random((total, 3, 3), np.float32), "w2c": rng.random((total, 4, 4), np.float32)}
    store.write_input({**cams, "image": rng.random((h, w, 3), np.float32), "depth": rng.random((h, w), np.float32)})
    for k in range(count):
        few = {"K": rng.random((HISTORY, 3, 3), np.float32), "w2c": rng.random((HISTORY, 4, 4), np.float32)}
        store.write_stage(k, "geometry", f"g{k}", {**few, "depth": rng.random((HISTORY, h, w), np.float32) + 2,
                                                  "confidence": rng.random((HISTORY, h, w), np.float32)})
        n = GAUSSIANS
        store.write_stage(k, "gaussians", f"s{k}", {"means": rng.standard_normal((n, 3), np.float32),
                                                   "quats": rng.random((n, 4), np.float32),
                                                   "scales": rng.random((n, 3), np.float32),
                                                   "opacities": rng.random(n, np.float32),
                                                   "sh": rng.random((n, 1, 3), np.float32),
                                                   "loss": rng.random(30, np.float32)})
        store.write_stage(k, "warp", f"w{k}", {"mask": (rng.random((FRAMES, h, w)) > 0.05).astype(np.uint8)})
        if k == count - 1:  # the newest chunk keeps its render (store.keep_renders=false)
            store.write_stage(k, "render", f"w{k}", {"rgb": rng.random((FRAMES, h, w, 3), np.float32),
                                                    "depth": rng.random((FRAMES, h, w), np.float32),
                                                    "alpha": rng.random((FRAMES, h, w), np.float32)})
        frames = (rng.integers(0, 24, (FRAMES, h, w, 3), np.uint8) + 100).astype(np.float32) / 255
        store.write_stage(k, "frames", f"f{k}", {"rgb": frames})
        store.write_stage(k, "handoff", f"h{k}", few)
        start = 0 if k == 0 else FRAMES + (k - 1) * (FRAMES - HISTORY)
        offset = 0 if k == 0 else HISTORY
        store.add_video_frames(start, k, offset, FRAMES - offset, lambda: None)
    store.set_status("complete")
    return store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", type=int, default=0, help="first build a store of this many frames there")
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=720)
    args = ap.parse_args()
    if args.synthetic:
        t0 = time.perf_counter()
        build_synthetic(args.store, args.synthetic, args.height, args.width)
        print(f"built in {time.perf_counter() - t0:.0f} s")
    store = RunStore.open(args.store)
    nbytes, files = tree_nbytes(store.path)
    print(f"store {store.path}: {nbytes / 2**20:.1f} MiB in {files} files, {len(store.groups())} groups")
    print(f"machine: {platform.processor() or platform.machine()}, crc32c implementation: {google_crc32c.implementation}")
    for deep in (True, False):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            report = store.verify(deep=deep)
            best = min(best, time.perf_counter() - t0)
        mode = "deep (crc32c)" if deep else "quick (sizes)"
        rate = f", {nbytes / 2**20 / best:.0f} MiB/s" if deep else ""
        print(f"verify {mode}: {best * 1000:.1f} ms{rate}; intact={report.ok}, groups checked={report.checked}, "
              f"not checked: {len(report.limits)}")


if __name__ == "__main__":
    main()
