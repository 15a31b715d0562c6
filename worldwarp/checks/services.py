"""External services probed before any compute, each with a timeout and one line saying what to do: the shared
object storage of ``artifacts: s3://...`` and an MLflow tracking server. (The Prefect API is flows/checks.py's.)"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import ServiceError

T = TypeVar("T")
TIMEOUT_S = 10.0
BUCKETS = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")  # object stores: the URL's first part is a bucket


def within(seconds: float, fn: Callable[[], T], what: str) -> T:
    """``fn()``, or a ServiceError when it has not returned after ``seconds`` (it runs on in a daemon thread,
    which dies with the process: clients with their own retry loops cannot hold the command up)."""
    box: dict[str, object] = {}

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise ServiceError(f"{what} did not answer within {seconds:g} s; check that it is up and reachable")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def check_http(url: str, what: str, hint: str, timeout: float = TIMEOUT_S) -> None:
    """``url`` answers HTTP 200 within ``timeout``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - http(s) only, checked by callers
            if r.status == 200:
                return
            status = f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        status = f"HTTP {e.code}"
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        status = str(reason).splitlines()[0][:120] if str(reason) else type(e).__name__
    raise ServiceError(f"{what} at {url} is not reachable ({status}); {hint}")


def check_mlflow(uri: str | None, timeout: float = TIMEOUT_S) -> None:
    """An http(s) tracking URI is a server: its /health must answer. Files and databases need no probe."""
    if not uri or urlsplit(uri).scheme not in ("http", "https"):
        return
    check_http(f"{uri.rstrip('/')}/health", "the MLflow tracking server (tracking.uri)",
               "start it, fix tracking.uri, or set tracking.mlflow=false", timeout)


def _s3_options(timeout: float) -> dict:
    # one attempt, short timeouts: botocore's default retries an unreachable endpoint for about a minute
    return {"config_kwargs": {"connect_timeout": timeout, "read_timeout": timeout, "retries": {"max_attempts": 1}}}


def check_storage(url: str | None, timeout: float = TIMEOUT_S) -> None:
    """The shared storage behind ``remote.url`` can be listed with this machine's credentials."""
    if not url:
        return
    import fsspec

    scheme = urlsplit(url).scheme
    what = f"the shared storage {url}"
    try:
        options = _s3_options(timeout) if scheme == "s3" else {}
        fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True, **options)
    except (ImportError, ValueError) as e:
        raise ServiceError(f"{what}: cannot open it ({str(e).splitlines()[0][:120]})") from None
    bucket = root.lstrip("/").split("/", 1)[0]

    def probe() -> None:
        if scheme in BUCKETS:
            fs.info(bucket)  # one request (head_bucket on S3), whatever the bucket holds
        else:  # memory://, sftp://...: no buckets; reaching it is the check (a missing prefix is made later)
            fs.exists(root)

    try:
        within(timeout + 5, probe, what)
    except ServiceError:
        raise
    except FileNotFoundError:
        raise ServiceError(f"{what}: no bucket {bucket!r} there; check the URL, or create the bucket") from None
    except PermissionError as e:
        raise ServiceError(f"{what}: access refused ({_why(e)}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                           "(or AWS_PROFILE)") from None
    except Exception as e:  # noqa: BLE001 - any client's failure to reach the service is the environment's
        raise ServiceError(f"{what}: {_why(e)}{_hint(e)}") from None


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" if str(e) else type(e).__name__


def _hint(e: BaseException) -> str:
    name = type(e).__name__
    if "Credential" in name:
        return "; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    if "Endpoint" in name or "Connect" in name or isinstance(e, OSError):
        return "; check AWS_ENDPOINT_URL and that the storage is up"
    return ""
