"""A batch's items and its summary, without any orchestrator: which longshots, which are already done, one table.

``flows/batch.py`` fans the items out as flow runs; everything it decides comes from here.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from worldwarp.config import ConfigError, WorldWarpConfig
from worldwarp.store import RunStore, StoreError
from worldwarp.store.lease import owner_died
from worldwarp.store.remote import RemoteStore, remote_store_url

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class BatchItem:
    name: str  # the run id of its store
    overrides: list[str]


@dataclass
class ItemResult:
    name: str
    state: str  # skipped (store already complete) | Completed | Failed | Crashed | ... | unfinished
    seconds: float | None = None
    frames: int | None = None
    where: str = ""  # host:pid that ran it
    error: str = ""
    extra: dict = field(default_factory=dict)


def _run_id(prefix: str, stem: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:80]


def batch_items(cfg: WorldWarpConfig) -> list[BatchItem]:
    """Every item: one per photo of ``batch.images``, one per named experiment. Refuses an empty batch."""
    items = []
    if cfg.batch.images:
        folder = Path(cfg.batch.images).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"batch.images: {folder} is not a folder")
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                items.append(BatchItem(_run_id("img-", p.stem), [f"scene.image={p}"]))
    runs = cfg.experiments.runs
    names = list(runs) if cfg.batch.experiments == ["all"] else cfg.batch.experiments
    for name in names:
        if name not in runs:
            raise ConfigError(f"batch.experiments: unknown experiment {name!r}; defined: {', '.join(runs) or 'none'}")
        items.append(BatchItem(name, [*cfg.experiments.common, *runs[name]]))
    if not items:
        raise ConfigError("empty batch: set batch.images to a folder of photos and/or batch.experiments")
    if len({i.name for i in items}) != len(items):
        raise ConfigError("two batch items have the same run id (photos whose names differ only in odd characters?)")
    return items


def store_location(cfg: WorldWarpConfig, name: str) -> str:
    """Where the item's store is kept for good: the shared copy when there is one, else this machine's disk."""
    if cfg.remote.url:
        return remote_store_url(cfg.remote.url, name)
    return str((Path(cfg.artifacts) / "runs" / f"{name}.zarr").resolve())


def writer_died(cfg: WorldWarpConfig, name: str, job: str) -> bool:
    """The item's run ``job`` holds a lease whose owner is gone (kill -9, a lost machine): it will never end."""
    return owner_died(store_location(cfg, name), cfg.lease.stale_s, job)


def is_finished(cfg: WorldWarpConfig, name: str) -> bool:
    """The item's store says complete: on the shared copy when there is one (what any worker would resume
    from), else under this machine's artifacts."""
    try:
        if cfg.remote.url:
            body = RemoteStore(remote_store_url(cfg.remote.url, name)).meta_bytes("")
            return body is not None and json.loads(body).get("attributes", {}).get("status") == "complete"
        return RunStore.open(Path(cfg.artifacts) / "runs" / f"{name}.zarr").status == "complete"
    except (StoreError, ValueError):
        return False


def write_summary(results: list[ItemResult], folder: Path) -> tuple[Path, Path]:
    """summary.csv and summary.png (seconds per item, coloured by state) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "summary.csv"
    with open(table, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["name", "state", "seconds", "frames", "where", "error"])
        w.writeheader()
        for r in results:
            w.writerow({k: v for k, v in asdict(r).items() if k != "extra"})
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(results)), 3.0))
    colours = ["tab:green" if r.state in ("Completed", "skipped") else "tab:red" for r in results]
    ax.bar([r.name for r in results], [r.seconds or 0.0 for r in results], color=colours)
    ax.set_ylabel("seconds")
    ax.set_title("batch: time per longshot (red: not completed)")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    plot = folder / "summary.png"
    fig.savefig(plot, dpi=80)
    plt.close(fig)
    return table, plot
