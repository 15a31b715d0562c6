"""A finished run's store and the config it ran with, for the scripts that analyse a run (revisit_holes.py,
world_map.py); a path that is not a readable store ends the script with its one-line reason."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.runner import stored_config  # noqa: E402
from worldwarp.config import WorldWarpConfig  # noqa: E402
from worldwarp.store import RunStore, StoreError  # noqa: E402


def open_stored(path: Path) -> tuple[RunStore, WorldWarpConfig]:
    try:
        store = RunStore.open(path)
    except StoreError as e:
        raise SystemExit(str(e)) from None
    return store, stored_config(store)
