"""Captions cached on disk: one JSON file per (image digest, model id, instruction, max_new_tokens)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

DEFAULT_CACHE = Path.home() / ".cache" / "worldwarp" / "captions"


def image_digest(image: torch.Tensor | np.ndarray) -> str:
    """sha256 of the image quantised to 8 bits (float noise below 1/255 must not miss the cache) and its shape."""
    a = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, np.float32)
    q = np.ascontiguousarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))
    return hashlib.sha256(str(q.shape).encode() + q.tobytes()).hexdigest()


class CaptionCache:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else DEFAULT_CACHE

    @staticmethod
    def key(digest: str, model_id: str, instruction: str, max_new_tokens: int) -> str:
        return hashlib.sha256(json.dumps([digest, model_id, instruction, max_new_tokens]).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> str | None:
        try:
            return json.loads(self._path(key).read_text())["caption"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or torn entry: recompute

    def put(self, key: str, caption: str, **meta) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._path(key).with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"caption": caption, **meta}))
        os.replace(tmp, self._path(key))  # atomic: concurrent runs never read half a file
