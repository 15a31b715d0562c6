"""Cost of checking a run store: `RunStore.verify` deep (crc32c of every file) and quick (sizes only).

    python benchmarks/verify_cost.py artifacts/runs/<id>.zarr [--repeat 3]

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

from worldwarp.store import RunStore
from worldwarp.store.atomic import tree_nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
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
        print(f"verify {mode}: {best * 1000:.1f} ms{rate}; intact={report.ok}, groups checked={report.checked}")


if __name__ == "__main__":
    main()
