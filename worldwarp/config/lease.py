"""One writer per run: how the store's lease is kept (worldwarp/store/lease.py). Never part of a run's params."""

from pydantic import Field, model_validator

from .base import Section


class LeaseConfig(Section):
    enabled: bool = Field(True, description="hold a lease on the run's store while writing it, so a second job "
                          "on the same run is refused")
    heartbeat_s: float = Field(10.0, gt=0, description="seconds between heartbeats of the lease")
    stale_s: float = Field(60.0, gt=0, description="a lease whose heartbeat is older than this is taken over "
                           "(its owner died); keep it several heartbeats long")

    @model_validator(mode="after")
    def _stale_after_heartbeat(self) -> "LeaseConfig":
        if self.stale_s <= self.heartbeat_s:
            raise ValueError("lease.stale_s must be longer than lease.heartbeat_s")
        return self
