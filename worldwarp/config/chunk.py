"""Chunking of the long video: frames per chunk, history overlap, number of chunks."""

from pydantic import Field, model_validator

from .base import Section


class ChunkConfig(Section):
    frames: int = Field(49, ge=5, le=257, description="frames per chunk; 1 + 4n (Wan VAE compresses time 4x)")
    history: int = Field(5, ge=1, description="frames carried over from the previous chunk as clean conditioning")
    count: int = Field(3, ge=1, le=10_000, description="number of chunks in the longshot")

    @model_validator(mode="after")
    def _check(self) -> "ChunkConfig":
        if (self.frames - 1) % 4 != 0:
            raise ValueError(f"chunk.frames must be 1 + 4n (got {self.frames}): the Wan VAE groups frames 1 + 4 + 4 ...")
        if self.history >= self.frames:
            raise ValueError(f"chunk.history ({self.history}) must be smaller than chunk.frames ({self.frames})")
        return self

    @property
    def new_frames(self) -> int:
        return self.frames - self.history

    @property
    def total_frames(self) -> int:
        return self.frames + (self.count - 1) * self.new_frames
