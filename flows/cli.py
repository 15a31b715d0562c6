"""`worldwarp` command line: demo, run, resume, inspect, verify, export, evaluate, evaluate-dataset, serve.

Every knob goes through worldwarp.config (the same model as params.yaml and the flow parameters).
Known bad input ends in one line on stderr and exit code 2; nothing is marked complete.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from worldwarp.config import WorldWarpConfig, load_params
from worldwarp.config.demo import DEMO_OVERRIDES

if TYPE_CHECKING:
    from worldwarp.store import RunStore

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="WorldWarp longshot: one photo to a long camera-controlled video.")

SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="override a knob: section.key=value")]
PrefectOpt = Annotated[bool, typer.Option("--prefect", help="run through the Prefect flow (needs a Prefect API)")]
RunIdOpt = Annotated[Optional[str], typer.Option(help="store name under artifacts/runs (default: from the content)")]
StoreArg = Annotated[str, typer.Argument(help="a run store: a folder, or the URL of a shared copy "
                                              "(s3://bucket/prefix/runs/<run-id>.zarr)")]


def _known_errors() -> tuple[type[BaseException], ...]:
    from worldwarp.config import ConfigError
    from worldwarp.geometry.cameras import CameraError
    from worldwarp.io.images import InputImageError
    from worldwarp.io.video import VideoError
    from worldwarp.store import StoreError

    from stages.common import DeviceError

    return (ConfigError, CameraError, InputImageError, VideoError, StoreError, DeviceError, PermissionError, FileNotFoundError,
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


def _preflight(cfg: WorldWarpConfig) -> None:
    """Fail before any stage runs on what would only fail later (no such device, missing weights)."""
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


def _execute(cfg: WorldWarpConfig, run_id: str | None, use_prefect: bool, replace: bool = False,
             store_path: Path | None = None) -> Path:
    from stages.runner import run_longshot
    from worldwarp.export import export_mp4

    from .tracking import make_tracker

    _check_writable(Path(cfg.artifacts))
    global _LOG_ROOT
    _LOG_ROOT = Path(cfg.artifacts) / "logs"
    _preflight(cfg)
    if use_prefect:
        from flows.longshot import worldwarp

        res = worldwarp(profile="default", overrides=_as_overrides(cfg), run_id=run_id,
                        store_path=str(store_path) if store_path else None)
        from worldwarp.store import RunStore

        store = RunStore.open(res["store"])
    else:
        def announce(k: int, stage: str) -> None:
            typer.echo(f"[chunk {k + 1}/{cfg.chunk.count}] {stage}", err=True)

        tracker = None

        def opened(store) -> None:
            nonlocal tracker
            tracker = make_tracker(cfg, store)
            tracker.start()

        try:
            store = run_longshot(cfg, run_id, on_stage=announce, on_open=opened,
                                 on_chunk=lambda k: tracker.chunk(k), replace=replace, store_path=store_path)
        except BaseException:
            if tracker is not None:
                tracker.finish("FAILED")
            raise
        video = export_mp4(store, store.path.with_suffix(".mp4"))
        tracker.finish("FINISHED", video)
        return _announce(cfg, store, video)
    return _announce(cfg, store, export_mp4(store, store.path.with_suffix(".mp4")))


def _announce(cfg: WorldWarpConfig, store, video: Path) -> Path:
    typer.echo(f"store: {store.path}")
    if cfg.remote.url:  # the copy other machines (and `worldwarp inspect <url>`) see
        from worldwarp.store.remote import remote_store_url

        typer.echo(f"shared: {remote_store_url(cfg.remote.url, store.path.name[:-len('.zarr')])}")
    typer.echo(f"video: {video}")
    return video


@contextmanager
def _reading(store: str) -> Iterator[tuple["RunStore", str]]:
    """(the store, its name for messages). A URL is pulled, marked groups only, into a temporary folder that goes
    away afterwards: a reader trusts only what the shared copy's completion marks vouch for, and never touches
    the working copy a writer on this machine may be using."""
    from worldwarp.config.remote import is_url
    from worldwarp.store import RunStore

    if not is_url(store):
        s = RunStore.open(store[len("file://"):] if store.startswith("file://") else store)
        yield s, str(s.path)
        return
    from worldwarp.store.remote import pull_store, split_store_url

    _, run_id = split_store_url(store)
    with tempfile.TemporaryDirectory(prefix="worldwarp-pull-") as d:
        local = Path(d) / f"{run_id}.zarr"
        pull_store(store, local)
        yield RunStore.open(local), store.rstrip("/")


def _resume_config(url: str) -> tuple[WorldWarpConfig, str]:
    """A shared store's own params and settings, with this machine's working copy of its artifacts root."""
    from worldwarp.config import validate
    from worldwarp.store.remote import root_attrs, split_store_url

    root, run_id = split_store_url(url)
    attrs = root_attrs(url)
    if "params" not in attrs:
        _fail(f"{url}: not a run store (its zarr.json holds no params)")
    # the writer's own working copy and cache are paths on its machine: this one uses its own
    settings = {k: v for k, v in (attrs.get("settings") or {"tracking": {"mlflow": False}}).items()
                if k not in ("artifacts", "remote")}
    return validate({**attrs["params"], **settings, "artifacts": root}), run_id


def _as_overrides(cfg: WorldWarpConfig) -> list[str]:
    import json

    out = []
    for section, value in cfg.model_dump(mode="json").items():
        out.append(f"{section}={json.dumps(value)}")
    return out


_LOG_ROOT: Path | None = None  # the run's artifacts/logs once its config is known


def _internal_error(e: Exception) -> None:
    """A bug, not bad input: one line naming the error and a log file holding the traceback; exit 1."""
    import datetime
    import traceback

    root = _LOG_ROOT or Path(tempfile.gettempdir()) / "worldwarp-logs"
    first = (str(e).splitlines() or [""])[0][:200]
    try:
        root.mkdir(parents=True, exist_ok=True)
        log = root / f"error-{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
        log.write_text("".join(traceback.format_exception(e)))
        where = f"traceback in {log}"
    except OSError:
        where = "the traceback could not be written"
    typer.echo(f"error: internal error {type(e).__name__}: {first} ({where})", err=True)
    raise typer.Exit(1)


def _guarded(fn):
    def wrapper(*args, **kwargs):
        import click

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except _known_errors() as e:
            _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except Exception as e:
            _internal_error(e)
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
            extra.append(f"scene.image={image}")
        if trajectory is not None:
            extra.append(_trajectory_override(trajectory))
        _execute(load_params(params, [*extra, *(set_ or [])]), run_id, use_prefect)
    _guarded(go)()


def _trajectory_override(text: str) -> str:
    """--trajectory: a file, a movement expression ("DOLLY_IN + PAN_RIGHT", known by its names) or a preset."""
    from worldwarp.geometry.movements import looks_like_movements

    if os.path.isdir(text):
        _fail(f"--trajectory {text}: is a directory, not a camera file (.npz / .txt), movement or preset")
    if text.endswith((".npz", ".txt")) or os.sep in text:
        return f"trajectory.file={text}"
    if looks_like_movements(text):
        return f"trajectory.movements={text!r}"  # quoted: YAML would read '|' and ': ' itself
    return f"trajectory.preset={text}"


trajectory_app = typer.Typer(help="Camera paths: make one from a reference video.", no_args_is_help=True)
app.add_typer(trajectory_app, name="trajectory")


@trajectory_app.command("from-video")
def trajectory_from_video(
        clip: Annotated[Path, typer.Argument(help="reference video (mp4, mov, ...)")],
        out: Annotated[Path, typer.Option(help="cameras.npz to write (feeds --trajectory)")] = Path("cameras.npz"),
        model: Annotated[Optional[Path], typer.Option(help="TTT3R checkpoint (default: estimator.model_dir)")] = None,
        max_frames: Annotated[int, typer.Option(min=1, help="frames to use at most (the authors: 600)")] = 600,
        stride: Annotated[int, typer.Option(min=1, help="use every n-th frame")] = 1,
        width: Annotated[Optional[int], typer.Option(help="camera width (default: resolution.width)")] = None,
        height: Annotated[Optional[int], typer.Option(help="camera height (default: resolution.height)")] = None,
        params: Annotated[Optional[Path], typer.Option(help="params.yaml")] = None,
        set_: SetOpt = None) -> None:
    """Estimate the camera path of a video with TTT3R, as the authors' demo does: frames cover-cropped to the
    run's resolution, poses in the model's units (roughly metres), one K for the path."""
    def go() -> None:
        from worldwarp.estimators.ttt3r import Ttt3rEstimator
        from worldwarp.estimators.ttt3r.from_video import cameras_from_frames
        from worldwarp.geometry.trajectory_io import save_cameras_npz
        from worldwarp.io.video import read_video

        # --width/--height go through the config so they get resolution's checks (multiple of 16)
        size = [f"resolution.{k}={v}" for k, v in (("width", width), ("height", height)) if v is not None]
        cfg = load_params(params, [*(set_ or []), *size])
        _check_writable(out.parent if str(out.parent) else Path("."))
        e = cfg.estimator
        path = model if model is not None else (Path(e.model_dir).expanduser() if e.model_dir else None)
        from stages.common import resolve_device
        from worldwarp.estimators.ttt3r.checkpoint import checkpoint_file

        # cheap checks first: a bad model path or video fails before gigabytes of weights are read
        checkpoint_file(path)
        frames = read_video(clip, cfg.resolution.width, cfg.resolution.height, max_frames=max_frames, stride=stride)
        est = Ttt3rEstimator.from_pretrained(path, torch_dtype=e.dtype, device=resolve_device(cfg), size=e.ttt3r_size,
                                             update=e.ttt3r_update, batch_size=e.batch_size)
        cams, rep = cameras_from_frames(est, frames, cfg.trajectory.fov_deg)
        save_cameras_npz(out, cams)
        typer.echo(f"{out}: {rep['frames']} cameras at {cams.width}x{cams.height}, focal {rep['focal_px']:.1f} px "
                   f"({rep['intrinsics']}), path length {rep['path_length']:.3g} (model units)")
    _guarded(go)()


@app.command("preview-trajectory")
def preview_trajectory(
        out: Annotated[Path, typer.Option(help="PNG to write")] = Path("trajectory.png"),
        trajectory: Annotated[Optional[str], typer.Option(help="as for run: preset, movements or file")] = None,
        params: Annotated[Optional[Path], typer.Option(help="params.yaml")] = None,
        set_: SetOpt = None) -> None:
    """Plot the camera path a run would follow (top-down and side views, one colour per chunk), no rendering."""
    def go() -> None:
        from stages.inputs import chunk_labels, new_frame_starts, trajectory_cameras
        from worldwarp.io.sheets import plot_trajectory

        cfg = load_params(params, [*([_trajectory_override(trajectory)] if trajectory else []), *(set_ or [])])
        _check_writable(out.parent)
        cams = trajectory_cameras(cfg)
        plot_trajectory(cams.w2c.numpy(), out, new_frame_starts(cfg), chunk_labels(cfg), cams.K[0].numpy())
        typer.echo(str(out))
    _guarded(go)()


@app.command()
def studio(port: Annotated[int, typer.Option(min=1, max=65535, help="port to serve on")] = 7860,
           host: Annotated[str, typer.Option(help="address to bind (anything but 127.0.0.1 is reachable by others)")] = "127.0.0.1",
           params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: the CPU-sized demo settings)")] = None,
           set_: SetOpt = None) -> None:
    """WorldWarp Studio: a web page to direct a longshot chunk by chunk (needs the `studio` extra: gradio)."""
    def go() -> None:
        base = [*([] if params else DEMO_OVERRIDES), *(set_ or [])]
        cfg = load_params(params, base)  # bad --set fails here, in one line, before the server starts
        _check_writable(Path(cfg.artifacts))
        if params:  # the page rebuilds configs from overrides: the file's knobs become the first of them
            base = _as_overrides(cfg)
        if host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo(f"warning: binding {host}: anyone who can reach this machine can use the Studio and "
                       "write runs under its artifacts", err=True)
        try:
            from flows.studio.app import launch
        except ImportError as e:
            _fail(f"the Studio needs gradio: pip install -e '.[studio]' ({e})")
        typer.echo(f"WorldWarp Studio on http://{host}:{port}", err=True)
        launch(base, host, port)
    _guarded(go)()


@app.command()
def resume(store: StoreArg, use_prefect: PrefectOpt = False) -> None:
    """Continue a run from its last completed stage, with the params stored in it; damaged stages recompute.

    The run stays in this store, and reports to its own artifact root and tracking settings (kept in the store).
    A shared copy's URL resumes into this machine's working copy (remote.cache) and keeps the shared copy current."""
    def go() -> None:
        from worldwarp.config import validate
        from worldwarp.config.remote import is_url
        from worldwarp.store import RunStore

        if is_url(store):
            cfg, run_id = _resume_config(store)
            _execute(cfg, run_id, use_prefect)
            return
        s = RunStore.open(store[len("file://"):] if store.startswith("file://") else store)
        _execute(validate({**s.params, **s.settings()}), s.run_id, use_prefect, store_path=s.path)
    _guarded(go)()


@app.command()
def inspect(store: StoreArg) -> None:
    """A table of chunks x stages: status, key, time, size."""
    def go() -> None:
        with _reading(store) as (s, _):
            _print_table(s)
    _guarded(go)()


def _print_table(s: "RunStore") -> None:
    from rich.console import Console
    from rich.table import Table

    report = s.verify(deep=True)
    damaged = f"  damaged={len(report.damaged)}" if report.damaged else ""
    t = Table(title=f"{s.path.name}  status={s.status}{damaged}")
    for col in ("chunk", "stage", "status", "key", "seconds", "size"):
        t.add_column(col)
    for row in s.summary(report):
        t.add_row(str(row.chunk), row.stage, row.status, row.key[:12] if row.key else "-",
                  f"{row.seconds:.2f}" if row.seconds is not None else "-", _size(row.nbytes))
    Console().print(t)
    _print_memory(s)
    if "video" in report.damaged:
        typer.echo(f"video: damaged ({report.damaged['video'][0]})")


def _print_memory(s: "RunStore") -> None:
    """memory.mode=world: the stored frames each chunk's cache retrieved (video frame numbers, with gains)."""
    from worldwarp.store import StoreError

    rows = []
    for k in s.chunks():
        try:
            got = s.stage_attrs(k, "gaussians").get("retrieved") if "gaussians" in s.stages(k) else None
        except StoreError:  # an unreadable group shows as damaged in the table already
            got = None
        if got is not None:
            rows.append(f"  chunk {k}: " + (", ".join(f"frame {r['video_frame']} (chunk {r['chunk']}, gain "
                                                       f"{r['gain']:.2f})" for r in got) or "none"))
    if rows:
        typer.echo("world memory, frames retrieved per chunk:\n" + "\n".join(rows))


@app.command()
def verify(store: StoreArg,
           quick: Annotated[bool, typer.Option(help="sizes only, no checksums (a stat per file)")] = False) -> None:
    """Check every file of a store against the sizes and crc32c checksums recorded when it was written.
    A URL is checked as a reader sees it: its marked groups, downloaded, against their manifests."""
    def go() -> None:
        import time

        t0 = time.perf_counter()
        with _reading(store) as (s, name):
            report = s.verify(deep=not quick)
        for rel, problems in report.damaged.items():
            for p in problems:
                typer.echo(f"{rel}: {p}")
        for rel in report.unchecked:
            typer.echo(f"{rel}: no checksums recorded (written by an older version)")
        if not report.ok:
            _fail(f"{name}: damaged ({report.first()}); repair it with `worldwarp resume {name}`")
        typer.echo(f"{name}: intact ({report.checked} groups checked in {time.perf_counter() - t0:.2f} s)")
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
def export(store: StoreArg,
           out: Annotated[Path, typer.Option(help="output directory")] = Path("export"),
           chunk: Annotated[int, typer.Option(help="chunk whose Gaussians go to the .ply (-1 = last)")] = -1,
           world: Annotated[bool, typer.Option("--world", help="also world.ply: the run's memory fused into one "
                                               "cloud (memory.mode=world or append runs)")] = False) -> None:
    """Write video.mp4, cameras.npz (K, R, t), gaussians.ply, transforms.json (nerfstudio), import_blender.py;
    with --world also world.ply."""
    def go() -> None:
        from worldwarp.export import export_all

        # no _check_writable(out): it would leave an empty folder behind when the store is refused
        with _reading(store) as (s, _):
            for p in export_all(s, out, chunk=chunk, world=world):
                typer.echo(str(p))
    _guarded(go)()


@app.command()
def experiment(name: Annotated[str, typer.Argument(help="an entry of experiments.runs in the params file")],
               params: Annotated[Path, typer.Option(help="params.yaml")] = Path("params.yaml"),
               set_: SetOpt = None) -> None:
    """Generate one DVC experiment: params file + experiments.common + the experiment's overrides.

    The store is artifacts/runs/<name>.zarr; new params replace the old ones and only the stages whose
    content keys changed recompute."""
    def go() -> None:
        base = load_params(params, set_ or [])
        runs = base.experiments.runs
        if name not in runs:
            _fail(f"unknown experiment {name!r}; {params} defines: {', '.join(runs) or 'none'}")
        cfg = load_params(params, [*(set_ or []), *base.experiments.common, *runs[name]])
        _execute(cfg, name, use_prefect=False, replace=True)
    _guarded(go)()


AtFrameOpt = Annotated[Optional[list[int]], typer.Option(
    "--at-frame", help="generated-frame index reported on its own (repeat; default eval.at_frames: 50 and 200)")]


def _eval_overrides(at_frame: list[int] | None) -> list[str]:
    return [f"eval.at_frames={sorted(set(at_frame))}"] if at_frame else []


@app.command()
def evaluate(store: StoreArg,
             out: Annotated[Path, typer.Option(help="directory for metrics.json, per_frame.csv, metrics.png")],
             params: Annotated[Optional[Path], typer.Option(help="params.yaml (its eval section)")] = None,
             at_frame: AtFrameOpt = None, set_: SetOpt = None) -> None:
    """Metrics per frame against the scene's ground truth (PSNR, SSIM, LPIPS), camera accuracy, FID/KID, and the
    paper's protocol: the metrics at eval.at_frames (R_dist, T_dist against frame 0); see docs/EVALUATION.md."""
    def go() -> None:
        from stages.evaluate import evaluate_store
        from worldwarp.metrics import InceptionError

        ev = load_params(params, [*(set_ or []), *_eval_overrides(at_frame)]).eval
        _check_writable(out)
        try:
            with _reading(store) as (s, _):
                paths = evaluate_store(s, ev, out, progress=True)
        except InceptionError as e:
            _fail(str(e))
        for p in paths.values():
            typer.echo(str(p))
    _guarded(go)()


@app.command("evaluate-dataset")
def evaluate_dataset(
        dataset: Annotated[str, typer.Option(help="realestate10k | dl3dv")],
        root: Annotated[Path, typer.Option(help="realestate10k: <clip>.txt + <clip>/ frames; dl3dv: <scene>/transforms.json")],
        n: Annotated[int, typer.Option(min=1, help="scenes to run at most (in name order)")] = 50,
        out: Annotated[Path, typer.Option(help="results.md, results.json, per-scene reports and run stores")] = Path(
            "artifacts/eval-dataset"),
        params: Annotated[Optional[Path], typer.Option(help="params.yaml")] = None,
        at_frame: AtFrameOpt = None, set_: SetOpt = None) -> None:
    """The paper's table on a dataset: each scene generated from its first frame along its own cameras, then
    PSNR, SSIM, LPIPS, FID, R_dist, T_dist at eval.at_frames (docs/EVALUATION.md)."""
    def go() -> None:
        from stages.evaluate_dataset import evaluate_dataset as run_dataset
        from worldwarp.datasets import READERS, DatasetError
        from worldwarp.metrics import InceptionError

        if dataset not in READERS:
            _fail(f"--dataset {dataset!r}: unknown; one of {', '.join(READERS)}")
        cfg = load_params(params, [*(set_ or []), *_eval_overrides(at_frame)])
        _check_writable(out)
        global _LOG_ROOT
        _LOG_ROOT = out / "logs"
        _preflight(cfg)
        try:
            paths = run_dataset(dataset, root, n, cfg, out, announce=lambda m: typer.echo(m, err=True))
        except (DatasetError, InceptionError) as e:
            _fail(str(e).splitlines()[0])
        for p in paths.values():
            typer.echo(str(p))
    _guarded(go)()


@app.command()
def aggregate(eval_root: Annotated[Path, typer.Argument(help="directory of <experiment>/metrics.json")],
              out: Annotated[Path, typer.Option(help="output directory")] = Path("artifacts/results")) -> None:
    """One table (results.md, summary.json) and one plot over all evaluated experiments."""
    def go() -> None:
        from stages.evaluate import aggregate as _aggregate

        _check_writable(out)
        for p in _aggregate(eval_root, out).values():
            typer.echo(str(p))
    _guarded(go)()


@app.command()
def serve() -> None:
    """Serve the Prefect deployment worldwarp/longshot (start `prefect server start` first)."""
    from flows.longshot import serve as _serve

    _serve()


@app.command()
def worker(pool: Annotated[str, typer.Option(help="Prefect work pool (prefect.yaml: worldwarp)")] = "worldwarp",
           queue: Annotated[str, typer.Option(help="work queue: longshot (GPU) or batch (no GPU)")] = "longshot",
           limit: Annotated[int, typer.Option(help="flow runs at once on this worker (one per GPU: 1)")] = 1,
           params: Annotated[Optional[Path], typer.Option(help="params.yaml the runs will use")] = None,
           set_: SetOpt = None) -> None:
    """Check this machine's GPU against the configured model, then become `prefect worker start` on the pool.

    Pin one GPU per worker with CUDA_VISIBLE_DEVICES (docs/SCALING.md)."""
    def go() -> None:
        import shutil

        from stages.common import check_gpu_memory

        found = check_gpu_memory(load_params(params, set_ or [])) if queue != "batch" else "batch queue: no GPU"
        typer.echo(f"worker: {found}", err=True)
        beside = Path(sys.executable).parent / "prefect"  # this environment's prefect, whatever PATH says
        prefect = str(beside) if beside.is_file() else shutil.which("prefect") or _fail("`prefect` is not installed here")
        os.execv(prefect, [prefect, "worker", "start", "--pool", pool, "--work-queue", queue, "--limit", str(limit)])
    _guarded(go)()


weights_app = typer.Typer(no_args_is_help=True, help="Check or convert model weights (no GPU; see docs/WEIGHTS.md).")
app.add_typer(weights_app, name="weights")


@weights_app.command("check")
def weights_check(paths: Annotated[list[Path], typer.Argument(help="weights folders or files (or a folder of them)")],
                  model_dir: Annotated[Optional[Path], typer.Option(
                      help="Wan2.1 diffusers folder whose transformer an ST-Diff file must fit")] = None) -> None:
    """One row per component: ok, or what is wrong. Exit 2 if anything is wrong. Reads headers, not tensors."""
    def go() -> None:
        from worldwarp.weights import check, table

        findings = check(paths, model_dir)
        for line in table(findings):
            typer.echo(line)
        bad = sum(not f.ok for f in findings)
        if bad:
            _fail(f"{bad} of {len(findings)} components have problems")
    _guarded(go)()


@weights_app.command("convert")
def weights_convert(src: Annotated[Path, typer.Argument(help="torch checkpoint (.ckpt/.pt/.pth/.bin)")],
                    out: Annotated[Path, typer.Argument(help="output .safetensors file or directory")],
                    overwrite: Annotated[bool, typer.Option(help="replace an existing output file")] = False) -> None:
    """Rewrite a torch checkpoint's state dict as safetensors (keys and dtypes kept; read with weights_only)."""
    def go() -> None:
        from worldwarp.weights import convert

        path, n = convert(src, out, overwrite=overwrite)
        typer.echo(f"{path} ({n} tensors)")
    _guarded(go)()


def main() -> None:
    app(prog_name="worldwarp")


if __name__ == "__main__":
    main()
