"""`worldwarp` command line: demo, run, resume, inspect, export, serve.

Every knob goes through worldwarp.config (the same model as params.yaml and the flow parameters).
Known bad input ends in one line on stderr and exit code 2; nothing is marked complete.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from worldwarp.config import WorldWarpConfig, load_params
from worldwarp.config.demo import DEMO_OVERRIDES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="WorldWarp longshot: one photo to a long camera-controlled video.")

SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="override a knob: section.key=value")]
PrefectOpt = Annotated[bool, typer.Option("--prefect", help="run through the Prefect flow (needs a Prefect API)")]
RunIdOpt = Annotated[Optional[str], typer.Option(help="store name under artifacts/runs (default: from the content)")]


def _known_errors() -> tuple[type[BaseException], ...]:
    from worldwarp.config import ConfigError
    from worldwarp.geometry.cameras import CameraError
    from worldwarp.io.images import InputImageError
    from worldwarp.store import StoreError

    return (ConfigError, CameraError, InputImageError, StoreError, PermissionError, FileNotFoundError,
            NotADirectoryError, IsADirectoryError)


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        _fail(f"output directory {root} is not writable ({e.strerror or type(e).__name__})")


def _execute(cfg: WorldWarpConfig, run_id: str | None, use_prefect: bool) -> Path:
    from stages.runner import run_longshot
    from worldwarp.export import export_mp4

    _check_writable(Path(cfg.artifacts))
    if use_prefect:
        from flows.longshot import worldwarp

        res = worldwarp(profile="default", overrides=_as_overrides(cfg), run_id=run_id)
        from worldwarp.store import RunStore

        store = RunStore.open(res["store"])
    else:
        def announce(k: int, stage: str) -> None:
            typer.echo(f"[chunk {k + 1}/{cfg.chunk.count}] {stage}", err=True)

        store = run_longshot(cfg, run_id, on_stage=announce)
    video = export_mp4(store, store.path.with_suffix(".mp4"))
    typer.echo(f"store: {store.path}")
    typer.echo(f"video: {video}")
    return video


def _as_overrides(cfg: WorldWarpConfig) -> list[str]:
    import json

    out = []
    for section, value in cfg.model_dump(mode="json").items():
        out.append(f"{section}={json.dumps(value)}")
    return out


def _guarded(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _known_errors() as e:
            _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


@app.command()
def demo(scene: Annotated[str, typer.Option(help="procedural scene: room | garden")] = "room",
         set_: SetOpt = None, use_prefect: PrefectOpt = False, run_id: RunIdOpt = None) -> None:
    """The embedded default: a procedural scene, no weights, CPU-sized, 4 chunks."""
    _guarded(lambda: _execute(load_params(None, [*DEMO_OVERRIDES, f"scene.name={scene}", *(set_ or [])]),
                              run_id, use_prefect))()


@app.command()
def run(image: Annotated[Optional[Path], typer.Option(help="input photo (PNG/JPEG/...)")] = None,
        trajectory: Annotated[Optional[str], typer.Option(help="preset name, or a cameras.npz / RealEstate10K .txt")] = None,
        params: Annotated[Optional[Path], typer.Option(help="params.yaml")] = None,
        set_: SetOpt = None, use_prefect: PrefectOpt = False, run_id: RunIdOpt = None) -> None:
    """Generate a longshot from a photo (or the configured scene) along a trajectory."""
    def go() -> None:
        extra = []
        if image is not None:
            extra += [f"scene.image={image}", "scene.depth_estimator=constant"]
        if trajectory is not None:
            is_file = trajectory.endswith((".npz", ".txt")) or os.sep in trajectory
            extra.append(f"trajectory.file={trajectory}" if is_file else f"trajectory.preset={trajectory}")
        _execute(load_params(params, [*extra, *(set_ or [])]), run_id, use_prefect)
    _guarded(go)()


@app.command()
def resume(store: Annotated[Path, typer.Argument(help="a run store: artifacts/runs/<id>.zarr")],
           use_prefect: PrefectOpt = False) -> None:
    """Continue a run from its last completed stage, with the params stored in it."""
    def go() -> None:
        from worldwarp.config import validate
        from worldwarp.store import RunStore

        s = RunStore.open(store)
        cfg = validate(s.params)
        _execute(cfg.model_copy(update={"artifacts": str(s.path.parent.parent)}), s.run_id, use_prefect)
    _guarded(go)()


@app.command()
def inspect(store: Annotated[Path, typer.Argument(help="a run store")]) -> None:
    """A table of chunks x stages: status, key, time, size."""
    def go() -> None:
        from rich.console import Console
        from rich.table import Table

        from worldwarp.store import RunStore

        s = RunStore.open(store)
        t = Table(title=f"{s.path.name}  status={s.status}")
        for col in ("chunk", "stage", "status", "key", "seconds", "size"):
            t.add_column(col)
        for row in s.summary():
            t.add_row(str(row.chunk), row.stage, row.status, row.key[:12] if row.key else "-",
                      f"{row.seconds:.2f}" if row.seconds is not None else "-", _size(row.nbytes))
        Console().print(t)
    _guarded(go)()


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@app.command()
def export(store: Annotated[Path, typer.Argument(help="a run store")],
           out: Annotated[Path, typer.Option(help="output directory")] = Path("export"),
           chunk: Annotated[int, typer.Option(help="chunk whose Gaussians go to the .ply (-1 = last)")] = -1) -> None:
    """Write video.mp4, cameras.npz (K, R, t), gaussians.ply, transforms.json (nerfstudio), import_blender.py."""
    def go() -> None:
        from worldwarp.export import export_all
        from worldwarp.store import RunStore

        _check_writable(out)
        for p in export_all(RunStore.open(store), out, chunk=chunk):
            typer.echo(str(p))
    _guarded(go)()


@app.command()
def serve() -> None:
    """Serve the Prefect deployment worldwarp/longshot (start `prefect server start` first)."""
    from flows.longshot import serve as _serve

    _serve()


def main() -> None:
    app(prog_name="worldwarp")


if __name__ == "__main__":
    main()
