"""Shared storage for run stores (worldwarp/store/remote.py). Where a run is kept, never what it computes."""

from pydantic import Field, field_validator

from .base import Section


class RemoteConfig(Section):
    url: str | None = Field(None, description="fsspec URL (s3://bucket/prefix, gs://..., memory://...) holding a shared "
                            "copy of every run store, <url>/runs/<run-id>.zarr: each finished group is copied there, "
                            "a resume on any machine starts from it, and the run's lease lives there. S3 endpoint and "
                            "keys come from the usual AWS_* environment variables (AWS_ENDPOINT_URL for MinIO, moto)")

    @field_validator("url")
    @classmethod
    def _is_url(cls, v: str | None) -> str | None:
        if v is not None and "://" not in v:
            raise ValueError(f"{v!r} is not a URL (protocol://...); a local folder is `artifacts`")
        return v
