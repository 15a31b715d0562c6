"""Knobs the chosen path does not use: an error when the user gave them, a warning when only a params file did.

Each section declares when its knobs are used (``Section.APPLIES``: a ``When`` per knob, e.g. trajectory.angle_deg
only with a turning preset, estimator.ttt3r_size only with estimator.backend=ttt3r, the ST-Diff knobs only with
diffusion.backend=stdiff). The rule is general: a knob named on the command line (``--set``) or in a flow's
overrides whose ``When`` does not hold for the final config is refused, naming the knob, what it needs and the
knobs that decide it. A params file restates every knob (params.yaml lists them all), so a file's knob is only
reported, as a warning, when its value differs from the default; a default changes nothing whether used or not.
Profile-filled knobs (``profile=official``) are the system's choice, never the user's, and are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .base import Section, When

# sections that configure other commands (evaluate, experiments, the benchmarks, workers), not a run's path
OTHER_COMMANDS = {"eval", "experiments", "real_photo", "batch", "worker"}


def _leaves(prefix: str, value: Any) -> Iterator[str]:
    """Dotted keys of the leaves of an override's value (a whole section given as a mapping is walked)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(f"{prefix}.{k}", v)
    else:
        yield prefix


def _declaration(cfg: Section, key: str) -> When | None:
    node: Any = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        node = getattr(node, p, None)
        if not isinstance(node, Section):
            return None  # an unknown key: the config's own validation has already refused it
    return type(node).APPLIES.get(parts[-1])


def _value(cfg: Section, key: str) -> Any:
    node: Any = cfg
    for p in key.split("."):
        node = getattr(node, p)
    return node


def _why(cfg: Section, key: str, when: When) -> str:
    now = ", ".join(f"{k}={_value(cfg, k)!r}" for k in when.on)
    return f"{key} is not used by this run: it applies only when {when.text}" + (f" (here {now})" if now else "")


def unused(cfg: Section, keys: Iterable[str]) -> list[str]:
    """One line per key (dotted) whose declaration says the run does not use it."""
    out = []
    for key in keys:
        if key.split(".")[0] in OTHER_COMMANDS:
            continue
        when = _declaration(cfg, key)
        if when is not None and not when.test(cfg):
            out.append(_why(cfg, key, when))
    return out


def override_keys(overrides: Iterable[str], whole_sections: bool = True) -> list[str]:
    """The dotted knob keys that ``section.key=value`` overrides set. ``whole_sections=False`` skips an override
    that gives a whole section as a mapping (``worldwarp run --prefect`` hands the flow its full config that way:
    a complete config, not knobs the user picked)."""
    from . import parse_override

    keys = []
    for text in overrides:
        path, value = parse_override(text)
        if isinstance(value, dict) and (len(path) == 1 and not whole_sections):
            continue
        keys.extend(_leaves(".".join(path), value))
    return keys


def file_keys(path: str | Path | None, cfg_cls: type[Section]) -> list[str]:
    """Dotted keys a params file sets to something other than the model's default (read leniently: the config
    loader has already validated the file)."""
    if path is None:
        return []
    data = yaml.safe_load(Path(path).read_text()) or {}
    default = cfg_cls().model_dump(mode="json")
    out = []
    for key in _leaves("", data):
        key = key.lstrip(".")
        node: Any = default
        for p in key.split("."):
            node = node.get(p) if isinstance(node, dict) else None
        # compare in the dump's JSON form: a file's [0.0, 1.0] equals the default tuple (0.0, 1.0)
        if yaml.safe_load(yaml.safe_dump(_file_value(data, key))) != node:
            out.append(key)
    return out


def _file_value(data: dict, key: str) -> Any:
    node: Any = data
    for p in key.split("."):
        node = node[p]
    return node


def check_knobs(cfg: Section, given: Iterable[str], params_file: str | Path | None = None,
                file_overrides: Iterable[str] = ()) -> list[str]:
    """Raise ConfigError on the first knob of ``given`` (the user's overrides) that the run does not use; return
    warning lines for the params file's own non-default knobs (and ``file_overrides``, e.g. an experiment's
    entries, which come from that file too) that it does not use."""
    from . import ConfigError

    given = list(given)
    errors = unused(cfg, override_keys(given, whole_sections=False))
    if errors:
        raise ConfigError(f"{errors[0]}; drop it or choose the path it belongs to")
    mine = set(override_keys(given))
    from_file = [k for k in [*file_keys(params_file, type(cfg)), *override_keys(file_overrides)] if k not in mine]
    return [f"warning: {line} (from {params_file or 'the params file'}; ignored)"
            for line in unused(cfg, dict.fromkeys(from_file))]
