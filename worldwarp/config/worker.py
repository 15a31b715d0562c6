"""A Prefect worker's start-up check (`worldwarp worker`): is this GPU big enough for the configured model."""

from pydantic import Field

from .base import Section


class WorkerConfig(Section):
    min_gpu_gib: float = Field(16.0, ge=0, description="GPU memory (GiB) a worker needs for the ST-Diff backend: "
                               "16 covers 480x720 with CFG (6.7-11.8 GiB measured, docs/BENCHMARKS.md); raise it for "
                               "larger frames. Checked at worker start-up only when the config needs a GPU")
