"""Errors by kind: the user's input or environment (exit 2, one line saying what is wrong and what to do) against
bugs (exit 1, the traceback in a log file). docs/ERRORS.md lists the kinds."""

from __future__ import annotations

import datetime
import os
import traceback
from pathlib import Path


class UserError(Exception):
    """Bad input or environment, not a bug: the message is one line naming the problem and what to do."""


class ServiceError(UserError):
    """An external service (object storage, the Prefect API, an MLflow server) is not configured, not reachable
    or refuses us; checked before any compute."""


class InputFileError(UserError, ValueError):
    """A file the user gave (or an earlier command wrote) cannot be read as what it should be; names the file,
    and the line or key where one applies."""


class DeviceError(RuntimeError):
    """The configured device cannot be used on this machine (a user error: checked before stages start)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Every exception type that means "the input or the environment is wrong" (imported here, lazily, so that
    classifying an error never loads torch or zarr before they are needed)."""
    from worldwarp.config import ConfigError
    from worldwarp.datasets.scene import DatasetError
    from worldwarp.geometry.cameras import CameraError
    from worldwarp.io.images import InputImageError
    from worldwarp.io.video import VideoError
    from worldwarp.metrics.fid import InceptionError
    from worldwarp.store.errors import StoreError

    return (UserError, DeviceError, ConfigError, CameraError, InputImageError, VideoError, StoreError, DatasetError,
            InceptionError, PermissionError, FileNotFoundError, NotADirectoryError, IsADirectoryError)


def is_user_error(e: BaseException) -> bool:
    return isinstance(e, user_errors())


def first_line(e: BaseException, limit: int = 300) -> str:
    return ((str(e).splitlines() or [""])[0][:limit]) or type(e).__name__


def write_traceback(e: BaseException, root: Path | None) -> Path | None:
    """The traceback of a bug, in ``root`` (a run's artifacts/logs) or the temp folder; None if it cannot be written."""
    import tempfile

    folder = root or Path(tempfile.gettempdir()) / "worldwarp-logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"error-{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
        log.write_text("".join(traceback.format_exception(e)))
        return log
    except OSError:
        return None
