"""What a run store keeps beyond what resuming and reading a run need. Never what a run computes."""

from pydantic import Field

from .base import Section


class StoreConfig(Section):
    keep_renders: bool = Field(
        False, description="keep each chunk's warped render (chunks/<k>/render: rgb, the denoiser's input, depth and "
        "alpha) after the chunk is finished; off: dropped then (at full size with random-weight ST-Diff 66 MB per chunk, "
        "more than all else a chunk keeps: docs/BENCHMARKS.md §11), and re-rendered from the stored Gaussians if a resume "
        "has to denoise that chunk again. The warp's validity mask is always kept. Studio keeps renders for its "
        "contact sheets")
