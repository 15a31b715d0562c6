"""A batch of longshots (flows/batch.py): which items, and how the batch waits for them. Never a run's params."""

from pydantic import Field

from .base import Section


class BatchConfig(Section):
    images: str | None = Field(None, description="folder of photos: one longshot per image (scene.image=<it>), "
                               "run id img-<file stem>; the folder must be readable by every worker")
    experiments: list[str] = Field(default_factory=list, description="names in experiments.runs to include "
                                   "(['all'] = every one); each runs with experiments.common + its overrides")
    deployment: str = Field("worldwarp/longshot", description="the deployment each item runs as")
    retries: int = Field(1, ge=0, le=10, description="times an item whose run crashed (its worker died: the run's "
                         "lease went stale) is submitted again; it resumes from its store")
    poll_s: float = Field(2.0, gt=0, description="seconds between looks at the items' flow runs")
    timeout_s: float = Field(24 * 3600.0, gt=0, description="give up waiting after this long; unfinished items are "
                             "listed as such and a rerun of the batch resumes them")
