"""The one home of the checks the front ends share: the CLI (flows/cli.py), the Studio (flows/studio) and the
Prefect flows (flows/longshot.py, flows/batch.py) import these and nothing of each other's.

What needs no orchestrator lives in worldwarp/checks (error kinds, --trajectory parsing, strict files, storage
and MLflow probes); this module adds the machine (device, model folders), the Prefect API, and how a command ends:
exit 0 done, 2 the user's input or environment (one line), 1 a bug (traceback in a log file), 130 interrupted
(with the command that continues the run). docs/ERRORS.md lists the kinds.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from worldwarp.checks import (DeviceError, InputFileError, ServiceError, UserError, check_output_suffix, check_writable,
                              first_line, is_user_error, trajectory_override, user_errors, write_traceback)
from worldwarp.checks.services import TIMEOUT_S, check_http, check_mlflow, check_storage
from worldwarp.config import WorldWarpConfig

__all__ = ["ENDING", "DeviceError", "InputFileError", "ServiceError", "UserError", "check_knobs", "check_machine", "check_mlflow",
           "check_output_suffix", "check_prefect_api", "check_services", "check_storage", "check_writable", "fail",
           "guarded", "interrupt_point", "is_user_error", "preflight", "prefect_api_url", "trajectory_override", "user_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def preflight(cfg: WorldWarpConfig, *, outputs: Iterable[Path] | None = None, machine: bool = True,
              new_run: bool = True) -> list[str]:
    """Everything checkable at second 0, before a store is touched: writable outputs (default: the artifacts root),
    this machine's device and every model folder a stage will load, headers and shapes (``machine``; a batch that
    only submits runs skips it), the external services the run reports to, and the run itself (its camera path
    within bounds, a photo's depth source chosen: worldwarp/preflight.py; ``new_run=False`` for a resume). Raises a
    user error (exit 2) naming the problem; returns the run log's lines on what was resolved, to be said once the
    run holds its store (so a refusal stays one line)."""
    for out in (Path(cfg.artifacts),) if outputs is None else outputs:
        check_writable(out)
    if machine:
        check_machine(cfg)
    check_services(cfg)
    from stages.inputs import trajectory_cameras
    from worldwarp.preflight import check_run

    return check_run(cfg, trajectory_cameras(cfg), new_run)


def check_knobs(cfg: WorldWarpConfig, given: Iterable[str], params: Path | str | None = None,
                file_overrides: Iterable[str] = ()) -> list[str]:
    """A knob given on the command line or in flow overrides that this run does not use is an error; one that comes
    only from a params file (or an experiment's entries) is a warning, returned (worldwarp/config/applies.py)."""
    from worldwarp.config.applies import check_knobs as _check

    return _check(cfg, list(given), params, list(file_overrides))


def check_machine(cfg: WorldWarpConfig) -> None:
    """No such device, missing weights: what would only fail at the first stage that needs them."""
    from stages.common import check_device

    check_device(cfg)
    if cfg.diffusion.backend == "stdiff":
        from worldwarp.diffusion.backbone import check_model_dir

        check_model_dir(cfg.diffusion.model_dir)
        if cfg.diffusion.stdiff_weights:
            from worldwarp.diffusion.checkpoint import weight_files

            weight_files(Path(cfg.diffusion.stdiff_weights).expanduser())  # .safetensors or .ckpt/.pt/.pth/.bin
    from worldwarp.estimators.model_dir import check_model_dir as check_transformers_dir

    if cfg.estimator.backend == "ttt3r":
        from worldwarp.estimators.ttt3r.checkpoint import checkpoint_file

        checkpoint_file(Path(cfg.estimator.model_dir).expanduser() if cfg.estimator.model_dir else None)
    elif cfg.estimator.backend != "ground_truth":
        from worldwarp.estimators.depth_models import WHAT as DEPTH_MODEL

        check_transformers_dir(cfg.estimator.model_dir, (cfg.estimator.backend,), DEPTH_MODEL[cfg.estimator.backend])
    if cfg.prompt.captioner_dir:
        from worldwarp.prompts.captioner import WHAT as CAPTIONER

        check_transformers_dir(Path(cfg.prompt.captioner_dir).expanduser(), ("qwen2_5_vl",), CAPTIONER)


def check_services(cfg: WorldWarpConfig, timeout: float = TIMEOUT_S) -> None:
    """The shared storage (``artifacts: s3://...``) and an MLflow tracking server, each answering within ``timeout``."""
    check_storage(cfg.remote.url, timeout)
    if cfg.tracking.mlflow:
        check_mlflow(cfg.tracking.uri, timeout)


def prefect_api_url() -> str | None:
    """The Prefect API this process would talk to (PREFECT_API_URL, from the environment or a Prefect profile),
    read now (not from the settings Prefect froze when it was imported)."""
    from prefect.settings import Settings

    url = Settings().api.url
    return str(url) if url else None


def check_prefect_api(timeout: float = TIMEOUT_S) -> str:
    """A configured and reachable Prefect API, never a temporary server started behind the user's back."""
    url = prefect_api_url()
    if not url:
        raise ServiceError("no Prefect API configured: start one (`prefect server start`) and set "
                           "PREFECT_API_URL=http://127.0.0.1:4200/api")
    check_http(f"{url.rstrip('/')}/health", "the Prefect API (PREFECT_API_URL)",
               "start it (`prefect server start`) or fix PREFECT_API_URL", timeout)
    return url


# ---- how a command ends -----------------------------------------------------------------------------------------

class _Ending:
    """Where a bug's traceback goes and which store an interrupt can resume (set as a command learns them), and
    whether a Ctrl-C came (``interrupted``: see ``interrupt_point``)."""

    log_root: Path | None = None
    store: str | None = None
    interrupted: bool = False


ENDING = _Ending()


def fail(msg: str) -> NoReturn:
    import typer

    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def internal_error(e: BaseException) -> NoReturn:
    """A bug, not bad input: one line naming the error and a log file holding the traceback; exit 1."""
    import typer

    log = write_traceback(e, ENDING.log_root)
    where = f"traceback in {log}" if log else "the traceback could not be written"
    typer.echo(f"error: internal error {type(e).__name__}: {first_line(e, 200)} ({where})", err=True)
    raise typer.Exit(1)


def interrupted() -> NoReturn:
    """Ctrl-C / SIGINT: exit 130, saying how to continue when a store was begun."""
    import typer

    if ENDING.store and Path(ENDING.store).exists():
        typer.echo(f"interrupted; continue with: worldwarp resume {ENDING.store}", err=True)
    else:
        typer.echo("interrupted", err=True)
    raise typer.Exit(130)


def _on_sigint(signum: int, frame: Any) -> None:
    ENDING.interrupted = True
    raise KeyboardInterrupt


def interrupt_point() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came and its exception was lost: Python drops an exception raised while
    a finaliser (``__del__``, a weakref callback) runs, so a Ctrl-C landing there would otherwise do nothing. The
    run loop calls this between stages, and a command that returns after a Ctrl-C ends interrupted, never done."""
    if ENDING.interrupted:
        raise KeyboardInterrupt


@contextmanager
def _sigint_recorded() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual and is also recorded; only where Python's own handler is in place
    (the main thread, SIGINT not ignored: a job started in the background keeps ignoring it)."""
    ENDING.interrupted = False
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def guarded(fn: F) -> F:
    """A command body whose errors end by kind (see the module's doc)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import click
        import typer

        ENDING.log_root = ENDING.store = None  # one command per process, but tests run many in one
        try:
            with _sigint_recorded():
                out = fn(*args, **kwargs)
                interrupt_point()
                return out
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            interrupted()
        except user_errors() as e:
            fail(first_line(e, 10_000))
        except Exception as e:  # noqa: BLE001 - the last line between a bug and the terminal
            internal_error(e)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
