"""Which global frames each chunk covers, and which of them are history.

Chunk 0 starts from the input image alone: its frame 0 is the input (1 history frame) and frames
1..F-1 are warped from the cache built from it. Chunk k >= 1 covers F frames starting at k*(F-h); its
first h frames are the last h frames of chunk k-1 (clean history), the other F-h are new.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ChunkConfig


@dataclass(frozen=True)
class ChunkSpan:
    index: int
    start: int  # first global frame of the chunk
    frames: int  # frames in the chunk
    history: int  # leading frames that are known (clean conditioning)

    @property
    def stop(self) -> int:
        return self.start + self.frames

    @property
    def new_start(self) -> int:
        """First global frame this chunk adds to the video."""
        return self.start if self.index == 0 else self.start + self.history


def chunk_span(cfg: ChunkConfig, k: int) -> ChunkSpan:
    if not 0 <= k < cfg.count:
        raise IndexError(f"chunk {k} out of range 0..{cfg.count - 1}")
    return ChunkSpan(index=k, start=k * cfg.new_frames, frames=cfg.frames, history=1 if k == 0 else cfg.history)


def all_spans(cfg: ChunkConfig) -> list[ChunkSpan]:
    return [chunk_span(cfg, k) for k in range(cfg.count)]
