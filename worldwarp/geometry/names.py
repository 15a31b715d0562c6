"""What a ``--trajectory`` value names: one rule, decided by the value's form alone (never by which files exist).

1. A value with a path separator, or ending in ``.npz`` / ``.txt``, is a camera file (``trajectory.file``).
   A file named like a preset is given as ``./forward``.
2. A value with ``;`` is one movement expression per chunk (``trajectory.movements`` as a list; the last repeats).
3. A value with ``+`` (or ``|``) is one combined movement expression (``DOLLY_IN + PAN_RIGHT``).
4. A lower-case name is a preset, exactly as spelt (``orbit_left``: ``trajectory.angle_deg`` over the run).
5. An UPPER_CASE name is one of the authors' movements, exactly as spelt (``ORBIT_LEFT``: 0.1 degree per frame),
   or their misspelling ``ORBIT_DONW``.
Presets and movements that share a name (orbit_left / ORBIT_LEFT, pan_*, truck_*, zoom_in) are thus two things,
told apart by case. Deprecated: a lower-case movement name that is no preset (``dolly_in``; in ``+`` and ``;``
expressions any lower-case movement name) still means that movement, with a warning. Any other spelling (mixed
case, unknown names) is an error that suggests the right name.

The resolution sets the one source and clears the others, so a params file's ``trajectory.movements`` cannot
shadow a preset chosen on the command line. The config field ``trajectory.movements`` holds movements and nothing
else, so the names in it cannot be mistaken for presets; it keeps reading them in any case (stored UPPER_CASE),
as params files and stores written before this rule have them.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from typing import Literal, get_args

from .cameras import CameraError
from .movements import ALIASES, MOVEMENTS, _SPLIT

Kind = Literal["file", "preset", "movement", "movements per chunk"]
FILE_SUFFIXES = (".npz", ".txt")


def presets() -> tuple[str, ...]:
    from ..config.camera import Preset

    return get_args(Preset)


@dataclass(frozen=True)
class Resolved:
    kind: Kind
    name: str  # the canonical spelling: a path, a preset, "A + B", or "A + B; C" (one entry per chunk)
    overrides: list[str]  # the config overrides that select it (and clear the other sources)
    warnings: list[str] = field(default_factory=list)


def _sources(file: str | None = None, movements: object = None, preset: str | None = None) -> list[str]:
    out = [f"trajectory.file={json.dumps(file)}", f"trajectory.movements={json.dumps(movements)}"]
    return out + ([f"trajectory.preset={preset}"] if preset else [])


def _suggest(word: str) -> str:
    names = [*presets(), *MOVEMENTS]
    same = [n for n in names if n.lower() == word.lower()]
    if same:
        kinds = " or ".join(f"{n} ({'preset' if n.islower() else 'movement'})" for n in same)
        return f"names are case-sensitive: did you mean {kinds}?"
    close = difflib.get_close_matches(word, names, n=2) or difflib.get_close_matches(word.upper(), names, n=2)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return (f"{hint}presets (lower-case): {', '.join(presets())}; movements (UPPER_CASE): {', '.join(MOVEMENTS)}; "
            "files: *.npz, *.txt or a path with '/'")


def _movement(word: str, warnings: list[str], alone: bool) -> str:
    """One movement name of an expression, canonical; a lower-case spelling is a deprecated alias."""
    if word in MOVEMENTS:
        return word
    if word in ALIASES:
        return ALIASES[word]
    up = word.upper()
    if word.islower() and (up in MOVEMENTS or up in ALIASES):
        name = ALIASES.get(up, up)
        warnings.append(f"warning: --trajectory {word!r} is read as the movement {name} (lower-case movement names are "
                        f"deprecated{': lower-case names are presets' if alone else ''}); write {name}")
        return name
    if word in presets():
        raise CameraError(f"--trajectory: {word} is a preset (a whole path); only movements combine with '+' and ';'")
    what = "names no preset, movement or camera file" if alone else "is no camera movement"
    raise CameraError(f"--trajectory {word!r} {what} ({_suggest(word)})")


def _expression(text: str, warnings: list[str]) -> str:
    words = [w.strip() for w in _SPLIT.split(text)]
    if not all(words):
        raise CameraError(f"--trajectory {text!r}: an empty movement between '+' signs")
    return " + ".join(_movement(w, warnings, alone=False) for w in words)


def resolve_trajectory(text: str) -> Resolved:
    """The one thing a --trajectory value names (module docstring); CameraError says why it names nothing."""
    value = text.strip()
    if not value:
        raise CameraError("--trajectory is empty: give a preset, a movement or a camera file")
    if os.sep in value or "/" in value or value.lower().endswith(FILE_SUFFIXES):
        if os.path.isdir(value):
            raise CameraError(f"--trajectory {value}: is a directory, not a camera file (.npz / .txt)")
        return Resolved("file", value, _sources(file=value))
    warnings: list[str] = []
    if ";" in value:
        parts = [p.strip() for p in value.split(";")]
        if not all(parts):
            raise CameraError(f"--trajectory {value!r}: an empty entry between ';' (one movement per chunk)")
        exprs = [_expression(p, warnings) for p in parts]
        return Resolved("movements per chunk", "; ".join(exprs), _sources(movements=exprs), warnings)
    if _SPLIT.search(value):
        expr = _expression(value, warnings)
        return Resolved("movement", expr, _sources(movements=[expr]), warnings)
    if value in presets():
        return Resolved("preset", value, _sources(preset=value))
    if value.isupper() or value.islower():
        try:
            name = _movement(value, warnings, alone=True)
        except CameraError:
            if value.islower() and os.path.isfile(value):
                raise CameraError(f"--trajectory {value!r} is no preset or movement; for the file of that name write "
                                  f"./{value}") from None
            raise
        return Resolved("movement", name, _sources(movements=[name]), warnings)
    raise CameraError(f"--trajectory {value!r}: {_suggest(value)}")


def trajectory_source(t) -> tuple[Kind, str]:
    """(kind, canonical name) of what a TrajectoryConfig follows: its file, movements or preset."""
    if t.file is not None:
        return "file", str(t.file)
    if t.movements is not None:
        return ("movement", t.movements[0]) if len(t.movements) == 1 else ("movements per chunk", "; ".join(t.movements))
    return "preset", t.preset
