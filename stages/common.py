"""What every stage shares: device choice, idempotence, chunk spans."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from worldwarp.checks.errors import DeviceError
from worldwarp.chunks import ChunkSpan, chunk_span
from worldwarp.config import WorldWarpConfig
from worldwarp.store import RunStore, StageRef


def check_device(cfg: WorldWarpConfig) -> None:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device=cuda was asked for but no CUDA device is available here (use device=auto or cpu)")
    if cfg.diffusion.backend == "stdiff" and cfg.diffusion.attention == "fa4":
        from worldwarp.diffusion.flash4 import unavailable

        why = unavailable(run_device(cfg))
        if why is not None:  # before any stage runs, not at the denoise stage of the first chunk
            raise DeviceError(f"diffusion.attention=fa4: {why}")
    if cfg.diffusion.backend == "stdiff" and cfg.diffusion.cfg_device:
        check_cfg_device(cfg.diffusion.cfg_device)


def check_cfg_device(name: str) -> None:
    """diffusion.cfg_device names a device this machine has."""
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise DeviceError(f"diffusion.cfg_device={name}: not a device name ({e})") from e
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if dev.index is None or dev.index >= n:
            raise DeviceError(f"diffusion.cfg_device={name}: this machine has {n} CUDA device(s) "
                              f"(name the second GPU, e.g. cuda:1)")
    elif dev.type != "cpu":
        raise DeviceError(f"diffusion.cfg_device={name}: only cuda:N (or cpu, for tests) is supported")


def needs_gpu(cfg: WorldWarpConfig) -> bool:
    return cfg.device == "cuda" or (cfg.device == "auto" and cfg.diffusion.backend == "stdiff")


def check_gpu_memory(cfg: WorldWarpConfig) -> str:
    """At a worker's start-up: refuse a GPU smaller than ``worker.min_gpu_gib`` (or none) when the config needs
    one, so a too-small GPU never takes runs off the pool only to fail them. Returns what was found."""
    if not needs_gpu(cfg):
        return "no GPU needed (CPU config)"
    if not torch.cuda.is_available():
        raise DeviceError(f"this worker has no CUDA GPU, and the configured model needs one with at least "
                          f"{cfg.worker.min_gpu_gib:g} GiB (worker.min_gpu_gib)")
    idx = torch.cuda.current_device()
    total = torch.cuda.get_device_properties(idx).total_memory / 2**30
    name = torch.cuda.get_device_name(idx)
    if total < cfg.worker.min_gpu_gib:
        raise DeviceError(f"GPU {idx} ({name}) has {total:.1f} GiB; the configured model needs at least "
                          f"{cfg.worker.min_gpu_gib:g} GiB (worker.min_gpu_gib)")
    return f"GPU {idx} ({name}, {total:.1f} GiB)"


def resolve_device(cfg: WorldWarpConfig) -> torch.device:
    """The run's device, with PyTorch's determinism switched to the run's ``deterministic`` knob and its CPU
    threads set (``threads``).

    Every stage that computes on a device resolves it here, so the knob holds for each stage whichever
    process (CLI, Prefect worker, test) runs it.
    """
    check_device(cfg)
    set_determinism(cfg.deterministic)
    apply_threads(cfg)
    return run_device(cfg)


DEFAULT_THREADS = 1  # measured: docs/DETERMINISM.md "Threads" (benchmarks/threads_cpu.py)


def thread_count(cfg: WorldWarpConfig) -> tuple[int, str]:
    """(threads, where the number comes from): the ``threads`` knob, else OMP_NUM_THREADS, else the default."""
    if cfg.threads is not None:
        return cfg.threads, "threads knob"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise DeviceError(f"OMP_NUM_THREADS={env!r} is not a whole number; unset it or set threads=N") from None
        if n < 1:
            raise DeviceError(f"OMP_NUM_THREADS={env!r} must be at least 1")
        return n, "OMP_NUM_THREADS"
    return DEFAULT_THREADS, "default"


def apply_threads(cfg: WorldWarpConfig) -> str:
    """torch.set_num_threads for the run (process-wide; every stage applies it, whichever process runs it);
    returns what it uses, for the run log."""
    n, source = thread_count(cfg)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return f"{n} CPU thread{'s' if n > 1 else ''} ({source})"


def run_device(cfg: WorldWarpConfig) -> torch.device:
    """The device ``cfg.device`` names ("auto": CUDA where there is one), without checks or side effects."""
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def set_determinism(on: bool) -> None:
    """Deterministic kernels wherever PyTorch has them (warn_only: an op without one, e.g. in a diffusion
    model, warns instead of failing the run); cuBLAS needs a fixed workspace for reproducible matmuls."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on, warn_only=True)
    if on:  # autotuning may pick a different convolution algorithm each run
        torch.backends.cudnn.benchmark = False


def span(cfg: WorldWarpConfig, k: int) -> ChunkSpan:
    return chunk_span(cfg.chunk, k)


def once(store: RunStore, k: int, group: str, key: str,
         compute: Callable[[], tuple[dict[str, np.ndarray], dict]]) -> StageRef:
    """Return the stored output when its key is complete; otherwise compute, write, mark complete."""
    if store.is_complete(k, group, key):
        return store.stage_ref(k, group)
    t0 = time.perf_counter()
    arrays, attrs = compute()
    attrs = {**attrs, "compute_seconds": round(time.perf_counter() - t0, 4)}
    return store.write_stage(k, group, key, arrays, attrs)


def free_cuda_cache() -> None:
    """Hand CUDA's cached free blocks back to the driver (lowvram: what one stage leaves cached is not held
    through the next, and the process's footprint follows the stage that runs)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def release(*cached: Callable) -> None:
    """Drop the models held by these ``lru_cache``d loaders (lowvram: a model lives for its stage only; the next
    call loads it again). Collected at once, since a model's modules can hold reference cycles, then its memory
    is handed back."""
    for loader in cached:
        loader.cache_clear()
    gc.collect()
    free_cuda_cache()


def to_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
