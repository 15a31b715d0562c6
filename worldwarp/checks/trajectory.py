"""``--trajectory`` (CLI, Studio, flows): a camera file, a movement expression or a preset, as one knob."""

from __future__ import annotations

import os

from .errors import UserError


def trajectory_override(text: str) -> str:
    """--trajectory: a file, a movement expression ("DOLLY_IN + PAN_RIGHT", known by its names) or a preset."""
    from worldwarp.geometry.movements import looks_like_movements

    if os.path.isdir(text):
        raise UserError(f"--trajectory {text}: is a directory, not a camera file (.npz / .txt), movement or preset")
    if text.endswith((".npz", ".txt")) or os.sep in text:
        return f"trajectory.file={text}"
    if looks_like_movements(text):
        return f"trajectory.movements={text!r}"  # quoted: YAML would read '|' and ': ' itself
    return f"trajectory.preset={text}"
