"""The params a run store keeps, written and read back.

Knobs added after stores existed are left out of the params a store keeps (and of content keys and run ids) while
they hold the value the older stores ran with, so those stores keep their keys and ids. Reading a store's params
back fills that value in where it is absent: an older store resumes as it ran, even where the knob's default has
changed since (``memory.seed_order`` and ``memory.retrieved_tolerance`` became world's defaults after world stores
existed).
"""

from __future__ import annotations

import copy
from typing import Any

# section -> {knob: the value every store written before the knob existed ran with}
LATER_KNOBS: dict[str, dict[str, Any]] = {
    "diffusion": {"text_encoder_quantize": "none"},
    "prompt": {"quantize": "none"},
    "memory": {"seed_order": "retrieved_first", "retrieved_tolerance": 0.02, "seed_budget": None},
}


def stable_dump(section: str, dump: dict[str, Any]) -> dict[str, Any]:
    """A section's JSON dump without the ``LATER_KNOBS`` that hold their older stores' value."""
    later = LATER_KNOBS.get(section, {})
    return {k: v for k, v in dump.items() if not (k in later and v == later[k])}


def with_later_knobs(params: dict[str, Any]) -> dict[str, Any]:
    """A store's params with the ``LATER_KNOBS`` it leaves out filled in (only in sections it has: a fresh run
    keeps no memory section)."""
    out = copy.deepcopy(params)
    for section, knobs in LATER_KNOBS.items():
        if isinstance(out.get(section), dict):
            for k, v in knobs.items():
                out[section].setdefault(k, v)
    return out
