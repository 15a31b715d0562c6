"""Shared storage for run stores (worldwarp/store/remote.py). Where a run is kept, never what it computes.

``artifacts: s3://bucket/prefix`` (any fsspec URL) is shorthand: the validated config holds
``remote.url=s3://bucket/prefix`` and ``artifacts=<remote.cache>/s3/bucket/prefix``, the local working copy.
Stages need a local disk (atomic renames, hard links, the video's lock), so they write there and every finished
group is copied to ``<url>/runs/<run-id>.zarr``, which is the source of truth between machines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from .base import Section


class RemoteConfig(Section):
    url: str | None = Field(None, description="fsspec URL (s3://bucket/prefix, gs://..., memory://...) holding a shared "
                            "copy of every run store, <url>/runs/<run-id>.zarr: each finished group is copied there, "
                            "a resume on any machine starts from it, and the run's lease lives there. S3 endpoint and "
                            "keys come from the usual AWS_* environment variables (AWS_ENDPOINT_URL for MinIO, moto). "
                            "Set by `artifacts: <URL>`")
    cache: str | None = Field(None, description="local folder for the working copies of stores whose artifacts root is "
                              "a URL (<cache>/<scheme>/<bucket>/<prefix>); default $XDG_CACHE_HOME/worldwarp, else "
                              "~/.cache/worldwarp, resolved on the machine that validates the config")

    @field_validator("url")
    @classmethod
    def _is_url(cls, v: str | None) -> str | None:
        if v is not None and "://" not in v:
            raise ValueError(f"{v!r} is not a URL (protocol://...); a local folder is `artifacts`")
        return v

    @field_validator("cache")
    @classmethod
    def _is_local(cls, v: str | None) -> str | None:
        if v is not None and ("://" in v or not v.strip()):
            raise ValueError(f"{v!r} must be a local folder (the shared storage is `artifacts` or remote.url)")
        return v


def is_url(text: str) -> bool:
    """A remote location (s3://, gs://, memory://...); file:// is a local path."""
    return "://" in text and not text.startswith("file://")


def cache_root(cache: str | None) -> Path:
    if cache:
        return Path(cache).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "worldwarp"


def working_copy(url: str, cache: str | None) -> Path:
    """The local folder that mirrors the artifacts root ``url``: <cache>/<scheme>/<bucket>/<prefix>."""
    parts = urlsplit(url)
    segments = [s for s in (parts.scheme, parts.netloc, *parts.path.split("/")) if s]
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"artifacts {url!r}: '.' and '..' are not allowed in a storage URL")
    return cache_root(cache).joinpath(*segments)


def split_artifacts(data: Any) -> Any:
    """Raw params with ``artifacts`` a URL -> ``remote.url`` that URL and ``artifacts`` its local working copy.
    Runs before validation, so the rest of the code only ever sees a local ``artifacts`` folder."""
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), str) or "://" not in data["artifacts"]:
        return data
    art = data["artifacts"]
    if art.startswith("file://"):
        return {**data, "artifacts": art[len("file://"):]}
    url = art.rstrip("/")
    remote = data.get("remote") or {}
    if not isinstance(remote, dict):  # the remote section's own validation says what is wrong
        return {**data, "artifacts": str(working_copy(url, None))}
    other = remote.get("url")
    if isinstance(other, str) and other.rstrip("/") != url:
        raise ValueError(f"artifacts is {url} and remote.url is {other}: set only artifacts")
    cache = remote.get("cache")
    if cache is not None and (not isinstance(cache, str) or "://" in cache):
        cache = None  # remote.cache's validator names the problem; this only keeps it the one error
    return {**data, "artifacts": str(working_copy(url, cache)), "remote": {**remote, "url": url}}
