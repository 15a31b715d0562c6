"""Small helpers for the JSON attrs a store writes: timestamps, stage attrs, params differences."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .errors import StoreError
from .keys import canonical_json

# attrs the store writes itself; a stage's own attrs may not shadow them
MARK_KEYS = frozenset({"complete", "key", "stage", "chunk", "finished_at", "seconds", "write_seconds",
                       "nbytes", "files", "raw_nbytes", "arrays", "input_digest", "manifest", "seal"})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def plain_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs = dict(attrs or {})
    clash = MARK_KEYS & attrs.keys()
    if clash:
        raise StoreError(f"stage attrs may not set {sorted(clash)}: the store writes those")
    try:
        return json.loads(json.dumps(attrs, default=_jsonable))
    except TypeError as e:
        raise StoreError(f"stage attrs must be JSON-able (got a {e})") from None


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(a.keys() | b.keys()):
            out += differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if canonical_json(a) == canonical_json(b) else [prefix.rstrip(".") or "params"]
