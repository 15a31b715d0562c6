"""``--trajectory`` (CLI, Studio, flows): the overrides that select a camera file, movements or a preset, by the one
naming rule of worldwarp/geometry/names.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

_log = logging.getLogger("worldwarp")


def trajectory_override(text: str, warn: Callable[[str], None] | None = None) -> list[str]:
    """The overrides for a --trajectory value; a deprecated spelling is said through ``warn`` (default: the log)."""
    from worldwarp.geometry.names import resolve_trajectory

    resolved = resolve_trajectory(text)
    for line in resolved.warnings:
        (warn or _log.warning)(line)
    return resolved.overrides
