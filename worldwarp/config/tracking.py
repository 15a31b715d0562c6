"""Experiment tracking (MLflow): where runs are logged. Used by flows/, never by the library."""

from pydantic import Field

from .base import Section


class TrackingConfig(Section):
    mlflow: bool = Field(True, description="log a parent run per longshot and a child run per chunk")
    uri: str | None = Field(None, description="MLflow tracking URI; default: sqlite database <artifacts>/mlflow.db")
    experiment: str = Field("worldwarp", min_length=1, max_length=200)
    ply_max_mb: float = Field(64.0, ge=0, description="log each chunk's 3DGS cache as a .ply to its chunk run when the "
                              "file is at most this many MB (an official-profile cache of 1M Gaussians is 248 MB); 0: never")
