"""Base model for every config section: unknown keys are errors, values are validated on assignment.

A section may declare, per knob, when the run uses it (``APPLIES``): a knob the user sets that the chosen path
does not use is an error (worldwarp/config/applies.py), never silently ignored. A knob without a declaration is
used by every run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class When:
    """A knob is used only when ``test(cfg)`` holds for the whole config; ``text`` says when, ``on`` names the
    knobs that decide it (their values go into the message)."""
    text: str
    test: Callable[[Any], bool]
    on: tuple[str, ...] = ()


class Section(BaseModel):
    # a non-finite knob is refused by name here, not later where it reaches a key or a bound check
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)
    APPLIES: ClassVar[dict[str, When]] = {}
