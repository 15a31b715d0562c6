"""Content keys, array digests and run ids: pure functions of content, no store access.

Keys are sha256 over canonical JSON (sorted keys, no whitespace, no NaN), so two processes, or two
machines, agree on a key exactly when they agree on what went into it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import StoreError

# Names become directory names and Zarr node names: no separators, no hidden or reserved prefixes.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.startswith("__"):
        raise StoreError(f"invalid {what} name {name!r}: use letters, digits, '_', '-', '.' (not leading)")
    return name


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):  # a pydantic model: its JSON form, as params.yaml would hold it
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON-able; pass model_dump(mode='json') values")


def canonical_json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=_plain)
    except ValueError as e:  # NaN/inf: no canonical text, so no stable key
        raise StoreError(f"cannot key a non-finite float: {e}") from None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_key(stage: str, inputs: Sequence[str], params: Mapping[str, Any] | Any, code_version: str) -> str:
    """sha256 hex of a stage's identity. ``inputs`` are upstream keys or input digests, in role order."""
    if isinstance(inputs, str):  # a bare str would be hashed character by character
        raise TypeError("inputs must be a sequence of keys, not one str")
    doc = {"stage": stage, "inputs": list(inputs), "params": params, "code_version": code_version}
    return _sha(canonical_json(doc))


def array_digest(a: np.ndarray) -> str:
    """sha256 hex of an array's dtype, shape and values (byte order normalised to little-endian)."""
    a = np.asarray(a)
    if a.dtype.kind not in "biufc":
        raise StoreError(f"cannot digest dtype {a.dtype}: only bool and numeric arrays")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    h = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def new_run_id(params: Mapping[str, Any] | Any, input_digest: str) -> str:
    """Same params and inputs -> same id, so running twice resumes the same store."""
    return "run-" + _sha(canonical_json({"params": params, "input_digest": input_digest}))[:16]
