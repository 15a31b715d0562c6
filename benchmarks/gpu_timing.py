"""Timing helpers shared by the GPU benchmarks: synchronised medians, a first call's cost, guarded parts."""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable

import torch


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], reps: int, warm: int = 1) -> tuple[float, object]:
    """Median seconds of ``reps`` synchronised calls after ``warm`` untimed ones, and the last output."""
    out = None
    for _ in range(warm):
        out = fn()
    sync()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def first_call_s(fn: Callable[[], object]) -> float:
    """Seconds of one synchronised call (the compile a first call pays)."""
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def guarded(name: str, res: dict, save: Callable[[], None]):
    """Run a benchmark part with its record ``res["parts"][name]``; an exception is recorded and the next part runs.
    The JSON is saved after each part."""
    def wrap(fn):
        def run(*a, **k):
            rec = res["parts"].setdefault(name, {})
            try:
                fn(rec, *a, **k)
            except Exception as e:  # noqa: BLE001 - recorded; the next part still runs
                rec["error"] = f"{type(e).__name__}: {e}"
                traceback.print_exc()
            save()
        return run
    return wrap
