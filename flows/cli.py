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

from .checks import (ENDING, UserError, check_knobs, check_output_suffix, check_prefect_api, check_storage,
                     check_writable, fail, guarded, interrupt_point, preflight, prefect_api_url, trajectory_override)

if TYPE_CHECKING:
    from worldwarp.store import RunStore

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="WorldWarp longshot: one photo to a long camera-controlled video.")

SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="override a knob: section.key=value")]
PrefectOpt = Annotated[bool, typer.Option("--prefect", help="run through the Prefect flow (needs a Prefect API)")]
RunIdOpt = Annotated[Optional[str], typer.Option(help="store name under artifacts/runs (default: from the content)")]
TrajectoryOpt = Annotated[Optional[str], typer.Option(help=(
    "a preset (lower-case: orbit_left), a movement (UPPER_CASE: ORBIT_LEFT), movements joined by + or one per "
    "chunk with ;, or a camera file (.npz / RealEstate10K .txt, or any path with /)"))]
StoreArg = Annotated[str, typer.Argument(help="a run store: a folder, or the URL of a shared copy "
                                              "(s3://bucket/prefix/runs/<run-id>.zarr)")]


def _knobs(cfg: WorldWarpConfig, given: list[str], params: Path | None = None, file_overrides: list[str] = ()) -> None:
    """A --set knob this run does not use is an error; a params file's is a warning (worldwarp/config/applies.py)."""
    for line in check_knobs(cfg, given, params, file_overrides):
        typer.echo(line, err=True)


def _trajectory(text: str) -> list[str]:
    """--trajectory's overrides by the one naming rule (worldwarp/geometry/names.py); deprecated spellings warn."""
    return trajectory_override(text, warn=lambda line: typer.echo(line, err=True))


def _execute(cfg: WorldWarpConfig, run_id: str | None, use_prefect: bool, replace: bool = False,
             store_path: Path | None = None, resuming: bool = False) -> Path:
    from stages.common import apply_threads
    from stages.runner import run_longshot
    from worldwarp.export import export_mp4

    from .tracking import make_tracker

    ENDING.log_root = Path(cfg.artifacts) / "logs"
    said = preflight(cfg, new_run=not resuming)
    threads = apply_threads(cfg)  # an execution setting: not in the keys (docs/DETERMINISM.md)
    if store_path is not None:
        ENDING.store = str(store_path)

    def say() -> None:  # once the run is ours (its lease taken), before chunk 0: a refusal stays one line
        for line in [f"run: {threads}", *said]:
            typer.echo(line, err=True)
    if use_prefect:
        check_prefect_api()  # before the run log's lines: a refusal stays one line
        say()
        from flows.longshot import worldwarp

        res = worldwarp(base="default", overrides=_as_overrides(cfg), run_id=run_id,
                        store_path=str(store_path) if store_path else None)
        from worldwarp.store import RunStore

        store = RunStore.open(res["store"])
    else:
        def announce(k: int, stage: str) -> None:
            interrupt_point()
            typer.echo(f"[chunk {k + 1}/{cfg.chunk.count}] {stage}", err=True)

        tracker = None

        def opened(store) -> None:
            nonlocal tracker
            ENDING.store = str(store.path)  # from here an interrupt says how to resume
            say()
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

    root, run_id = split_store_url(store)
    check_storage(root)  # credentials and endpoint, with a timeout, before any download
    with tempfile.TemporaryDirectory(prefix="worldwarp-pull-") as d:
        local = Path(d) / f"{run_id}.zarr"
        pull_store(store, local)
        yield RunStore.open(local), store.rstrip("/")


def _resume_config(url: str) -> tuple[WorldWarpConfig, str]:
    """A shared store's own params and settings, with this machine's working copy of its artifacts root."""
    from worldwarp.config import validate_stored
    from worldwarp.store.remote import root_attrs, split_store_url

    root, run_id = split_store_url(url)
    check_storage(root)
    attrs = root_attrs(url)
    if "params" not in attrs:
        fail(f"{url}: not a run store (its zarr.json holds no params)")
    # the writer's own working copy and cache are paths on its machine: this one uses its own
    settings = {k: v for k, v in (attrs.get("settings") or {"tracking": {"mlflow": False}}).items()
                if k not in ("artifacts", "remote")}
    return validate_stored({**attrs["params"], **settings, "artifacts": root}), run_id


def _run_id(run_id: str | None) -> None:
    if run_id is not None:
        from worldwarp.store.keys import check_name

        check_name(run_id, "run id")


def _as_overrides(cfg: WorldWarpConfig) -> list[str]:
    import json

    out = []
    for section, value in cfg.model_dump(mode="json").items():
        out.append(f"{section}={json.dumps(value)}")
    return out


@app.command()
def demo(scene: Annotated[str, typer.Option(help="procedural scene: room | garden")] = "room",
         trajectory: TrajectoryOpt = None, set_: SetOpt = None, use_prefect: PrefectOpt = False,
         run_id: RunIdOpt = None) -> None:
    """The embedded default: a procedural scene, no weights, CPU-sized, 4 chunks."""
    def go() -> None:
        _run_id(run_id)
        given = [*(_trajectory(trajectory) if trajectory is not None else []), *(set_ or [])]
        cfg = load_params(None, [*DEMO_OVERRIDES, f"scene.name={scene}", *given])
        _knobs(cfg, given)
        _execute(cfg, run_id, use_prefect)
    guarded(go)()


@app.command()
def run(image: Annotated[Optional[Path], typer.Option(help="input photo (PNG/JPEG/...)")] = None,
        trajectory: TrajectoryOpt = None,
        params: Annotated[Optional[Path], typer.Option(help="params.yaml")] = None,
        set_: SetOpt = None, use_prefect: PrefectOpt = False, run_id: RunIdOpt = None,
        dry_run: Annotated[bool, typer.Option(help="resolve and check everything (names, knobs, models, path), "
                                                   "print what would run, compute nothing")] = False) -> None:
    """Generate a longshot from a photo (or the configured scene) along a trajectory."""
    def go() -> None:
        _run_id(run_id)  # a name the store would refuse is refused before anything else, --dry-run included
        extra = []
        if image is not None:
            extra.append(f"scene.image={image}")
        given = [*(_trajectory(trajectory) if trajectory is not None else []), *(set_ or [])]
        cfg = load_params(params, [*extra, *given])
        from stages.inputs import trajectory_cameras

        trajectory_cameras(cfg)  # a broken camera file is named before the knobs it makes unused
        _knobs(cfg, given, params)
        if dry_run:
            for line in preflight(cfg):
                typer.echo(line, err=True)
            return
        _execute(cfg, run_id, use_prefect)
    guarded(go)()


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
        from worldwarp.io.video import check_video_file, read_video

        # --width/--height go through the config so they get resolution's checks (multiple of 16)
        size = [f"resolution.{k}={v}" for k, v in (("width", width), ("height", height)) if v is not None]
        cfg = load_params(params, [*(set_ or []), *size])
        check_output_suffix(out, (".npz",), "camera path")
        check_writable(out.parent if str(out.parent) else Path("."))
        e = cfg.estimator
        path = model if model is not None else (Path(e.model_dir).expanduser() if e.model_dir else None)
        from stages.common import resolve_device
        from worldwarp.estimators.ttt3r.checkpoint import checkpoint_file

        # cheap checks first: a missing video, then a bad model path, before gigabytes of weights are read
        check_video_file(clip)
        checkpoint_file(path)
        frames = read_video(clip, cfg.resolution.width, cfg.resolution.height, max_frames=max_frames, stride=stride)
        est = Ttt3rEstimator.from_pretrained(path, torch_dtype=e.dtype, device=resolve_device(cfg), size=e.ttt3r_size,
                                             update=e.ttt3r_update, batch_size=e.batch_size)
        cams, rep = cameras_from_frames(est, frames, cfg.trajectory.fov_deg)
        save_cameras_npz(out, cams)
        typer.echo(f"{out}: {rep['frames']} cameras at {cams.width}x{cams.height}, focal {rep['focal_px']:.1f} px "
                   f"({rep['intrinsics']}), path length {rep['path_length']:.3g} (model units)")
    guarded(go)()


PLOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")  # what matplotlib's savefig writes here


@app.command("preview-trajectory")
def preview_trajectory(
        out: Annotated[Path, typer.Option(help="PNG to write")] = Path("trajectory.png"),
        trajectory: Annotated[Optional[str], typer.Option(help="as for run: preset, movements or camera file")] = None,
        params: Annotated[Optional[Path], typer.Option(help="params.yaml")] = None,
        set_: SetOpt = None) -> None:
    """Plot the camera path a run would follow (top-down and side views, one colour per chunk), no rendering."""
    def go() -> None:
        from stages.inputs import chunk_labels, new_frame_starts, trajectory_cameras
        from worldwarp.io.sheets import plot_trajectory

        from worldwarp.geometry.cameras import CameraError
        from worldwarp.preflight import check_trajectory, trajectory_line

        given = [*(_trajectory(trajectory) if trajectory else []), *(set_ or [])]
        cfg = load_params(params, given)
        _knobs(cfg, given, params)
        check_output_suffix(out, PLOT_SUFFIXES, "plot")
        check_writable(out.parent)
        cams = trajectory_cameras(cfg)
        try:  # a path a run would refuse is still drawn (that is how to see what is wrong with it), with a warning
            typer.echo(check_trajectory(cfg, cams), err=True)
        except CameraError as e:
            typer.echo(f"{trajectory_line(cfg, cams)}\nwarning: a run would refuse this path: {e}", err=True)
        plot_trajectory(cams.w2c.numpy(), out, new_frame_starts(cfg), chunk_labels(cfg), cams.K[0].numpy())
        typer.echo(str(out))
    guarded(go)()


@app.command()
def studio(port: Annotated[int, typer.Option(min=1, max=65535, help="port to serve on")] = 7860,
           host: Annotated[str, typer.Option(help="address to bind (anything but 127.0.0.1 is reachable by others)")] = "127.0.0.1",
           params: Annotated[Optional[Path], typer.Option(help="params.yaml (default: the CPU-sized demo settings)")] = None,
           set_: SetOpt = None) -> None:
    """WorldWarp Studio: a web page to direct a longshot chunk by chunk (needs the `studio` extra: gradio)."""
    def go() -> None:
        base = [*([] if params else DEMO_OVERRIDES), *(set_ or [])]
        cfg = load_params(params, base)  # bad --set fails here, in one line, before the server starts
        check_writable(Path(cfg.artifacts))
        if params:  # the page rebuilds configs from overrides: the file's knobs become the first of them
            base = _as_overrides(cfg)
        if host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo(f"warning: binding {host}: anyone who can reach this machine can use the Studio and "
                       "write runs under its artifacts", err=True)
        try:
            from flows.studio.app import launch
        except ImportError as e:
            fail(f"the Studio needs gradio: pip install -e '.[studio]' ({e})")
        typer.echo(f"WorldWarp Studio on http://{host}:{port}", err=True)
        launch(base, host, port)
    guarded(go)()


@app.command()
def resume(store: StoreArg, use_prefect: PrefectOpt = False) -> None:
    """Continue a run from its last completed stage, with the params stored in it; damaged stages recompute.

    The run stays in this store, and reports to its own artifact root and tracking settings (kept in the store).
    A shared copy's URL resumes into this machine's working copy (remote.cache) and keeps the shared copy current."""
    def go() -> None:
        from stages.runner import stored_config
        from worldwarp.config.remote import is_url
        from worldwarp.store import RunStore

        if is_url(store):
            cfg, run_id = _resume_config(store)
            _execute(cfg, run_id, use_prefect, resuming=True)
            return
        s = RunStore.open(store[len("file://"):] if store.startswith("file://") else store)
        _execute(stored_config(s), s.run_id, use_prefect, store_path=s.path, resuming=True)
    guarded(go)()


@app.command()
def inspect(store: StoreArg) -> None:
    """A table of chunks x stages: status, key, time, size."""
    def go() -> None:
        with _reading(store) as (s, name):
            _print_table(s, name)
    guarded(go)()


def _print_table(s: "RunStore", name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    report = s.verify(deep=True)
    damaged = f"  damaged={len(report.damaged)}" if report.damaged else ""
    t = Table(title=f"{s.path.name}  status={s.status}{damaged}")
    for col in ("chunk", "stage", "status", "key", "seconds", "size"):
        t.add_column(col)
    rows = s.summary(report)
    for row in rows:
        t.add_row(str(row.chunk), row.stage, row.status, row.key[:12] if row.key else "-",
                  f"{row.seconds:.2f}" if row.seconds is not None else "-", _size(row.nbytes))
    Console().print(t)
    _print_memory(s)
    for rel, problems in report.damaged.items():  # each damaged path by name, the table's rows too
        typer.echo(f"{rel}: damaged ({problems[0]})")
    if report.damaged:
        typer.echo(f"repair it with `worldwarp resume {name}`")


def _print_memory(s: "RunStore") -> None:
    """memory.mode=world: the stored frames each chunk's cache retrieved (video frame numbers, with gains)."""
    from worldwarp.store import StoreError

    rows = []
    for k in s.chunks():
        try:
            a = s.stage_attrs(k, "gaussians") if "gaussians" in s.stages(k) else {}
        except StoreError:  # an unreadable group shows as damaged in the table already
            a = {}
        got = a.get("retrieved")
        if got is not None:
            of = f" of {a['memory_candidates']} in the world map" if a.get("memory_candidates") is not None else ""
            seeds = ""
            if a.get("retrieved_seeds") is not None and a["retrieved_seeds"] < a["retrieved_seeds_unthinned"]:
                seeds = (f"; seeded {a['retrieved_seeds']:,} of their {a['retrieved_seeds_unthinned']:,} "
                         "(memory.seed_budget)")
            rows.append(f"  chunk {k}{of}: " + (", ".join(f"frame {r['video_frame']} (chunk {r['chunk']}, gain "
                                                          f"{r['gain']:.2f})" for r in got) or "none") + seeds)
    if rows:
        typer.echo("world memory, frames retrieved per chunk:\n" + "\n".join(rows))


@app.command()
def verify(store: StoreArg,
           quick: Annotated[bool, typer.Option(help="sizes only, no checksums (a stat per file)")] = False) -> None:
    """Check a store against what it recorded: every file's size and crc32c, every node's zarr.json, and that it
    holds every group the run must have and nothing else. A URL is checked as a reader sees it: its marked groups,
    downloaded, against their manifests and the run's plan."""
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
        for line in report.limits:
            typer.echo(f"not checked: {line}")
        if not report.ok:
            fail(f"{name}: damaged ({report.first()}); repair it with `worldwarp resume {name}`")
        typer.echo(f"{name}: intact ({report.checked} groups checked in {time.perf_counter() - t0:.2f} s)")
    guarded(go)()


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
                                               "cloud (memory.mode=world or append runs), and world_score.json")] = False,
           device: Annotated[Optional[str], typer.Option(help="--world: where world.ply is refined and rendered at "
                                                         "every camera: auto (CUDA where there is one), cpu or cuda")] = None,
           world_steps: Annotated[Optional[int], typer.Option(help="--world: 3DGS steps refining the fused cloud on the "
                                                              "run's even frames (default 100; 0: fused only)")] = None
           ) -> None:
    """Write video.mp4, cameras.npz (K, R, t), gaussians.ply, transforms.json (nerfstudio), import_blender.py;
    with --world also world.ply and its score at every camera of the run (world_score.json)."""
    def go() -> None:
        from worldwarp.export import export_all
        from worldwarp.export.world_score import score_device, score_line

        for opt, v in (("--device", device), ("--world-steps", world_steps)):
            if v is not None and not world:
                raise UserError(f"{opt} applies to --world only (world.ply's refinement and score)")
        if device not in (None, "auto", "cpu", "cuda"):
            raise UserError(f"--device {device}: not one of auto, cpu, cuda")
        if world_steps is not None and world_steps < 0:
            raise UserError(f"--world-steps {world_steps}: must be 0 or more")
        where = score_device(device or "auto") if world else "cpu"
        # no check_writable(out): it would leave an empty folder behind when the store is refused
        with _reading(store) as (s, name):
            for p in export_all(s, out, chunk=chunk, name=name, world=world, device=where, progress=True,
                                world_steps=100 if world_steps is None else world_steps,
                                on_score=lambda sc: typer.echo(score_line(sc), err=True)):
                typer.echo(str(p))
    guarded(go)()


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
            fail(f"unknown experiment {name!r}; {params} defines: {', '.join(runs) or 'none'}")
        entries = [*base.experiments.common, *runs[name]]
        for line in _overridden(entries, set_ or []):
            typer.echo(f"note: {line}", err=True)
        # the user's --set last: it wins over the file's experiments.common and the experiment's entries
        cfg = load_params(params, [*entries, *(set_ or [])])
        _knobs(cfg, set_ or [], params, entries)
        _execute(cfg, name, use_prefect=False, replace=True)
    guarded(go)()


def _overridden(entries: list[str], sets: list[str]) -> list[str]:
    """Which experiment entries the user's --set replaces (said, never silent)."""
    from worldwarp.config import parse_override

    given = {tuple(parse_override(t)[0]): t for t in sets}
    out = []
    for e in entries:
        path = tuple(parse_override(e)[0])
        hit = next((t for k, t in given.items() if k[:len(path)] == path or path[:len(k)] == k), None)
        if hit is not None and hit.strip() != e.strip():
            out.append(f"--set {hit} replaces the experiment's {e}")
    return out


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
        check_writable(out)
        try:
            with _reading(store) as (s, _):
                paths = evaluate_store(s, ev, out, progress=True)
        except InceptionError as e:
            fail(str(e))
        for p in paths.values():
            typer.echo(str(p))
    guarded(go)()


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
            fail(f"--dataset {dataset!r}: unknown; one of {', '.join(READERS)}")
        cfg = load_params(params, [*(set_ or []), *_eval_overrides(at_frame)])
        from worldwarp.datasets import open_dataset
        from worldwarp.preflight import check_photo_depth

        try:  # a root that holds no scenes is named before what the scenes' depth would be
            open_dataset(dataset, root, n)
        except DatasetError as e:
            fail(str(e).splitlines()[0])

        # every scene is a photo run (its first frame): its depth is a choice here too
        check_photo_depth(cfg.model_copy(update={"scene": cfg.scene.model_copy(update={"image": f"{root}/*"})}))
        check_writable(out)
        ENDING.log_root = out / "logs"
        preflight(cfg, outputs=(out,))
        try:
            paths = run_dataset(dataset, root, n, cfg, out, announce=lambda m: typer.echo(m, err=True))
        except (DatasetError, InceptionError) as e:
            fail(str(e).splitlines()[0])
        for p in paths.values():
            typer.echo(str(p))
    guarded(go)()


@app.command()
def aggregate(eval_root: Annotated[Path, typer.Argument(help="directory of <experiment>/metrics.json")],
              out: Annotated[Path, typer.Option(help="output directory")] = Path("artifacts/results")) -> None:
    """One table (results.md, summary.json) and one plot over all evaluated experiments."""
    def go() -> None:
        from stages.evaluate import aggregate as _aggregate

        check_writable(out.parent if str(out.parent) else Path("."))  # out itself appears in one rename
        for p in _aggregate(eval_root, out).values():
            typer.echo(str(p))
    guarded(go)()


@app.command()
def serve(temporary_server: Annotated[bool, typer.Option(
        "--temporary-server", help="without PREFECT_API_URL, let Prefect start a temporary server inside this process "
        "(its runs and UI go when it stops)")] = False) -> None:
    """Serve the Prefect deployment worldwarp/longshot on the Prefect API of PREFECT_API_URL (start
    `prefect server start` first)."""
    def go() -> None:
        if not (temporary_server and prefect_api_url() is None):
            check_prefect_api()
        from flows.longshot import serve as _serve

        _serve()
    guarded(go)()


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
        api = check_prefect_api()  # prefect's own worker would start a temporary server, or print a traceback
        typer.echo(f"worker: {found}; Prefect API {api}", err=True)
        beside = Path(sys.executable).parent / "prefect"  # this environment's prefect, whatever PATH says
        prefect = str(beside) if beside.is_file() else shutil.which("prefect") or fail("`prefect` is not installed here")
        os.execv(prefect, [prefect, "worker", "start", "--pool", pool, "--work-queue", queue, "--limit", str(limit)])
    guarded(go)()


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
            fail(f"{bad} of {len(findings)} components have problems")
    guarded(go)()


@weights_app.command("convert")
def weights_convert(src: Annotated[Path, typer.Argument(help="torch checkpoint (.ckpt/.pt/.pth/.bin)")],
                    out: Annotated[Path, typer.Argument(help="output .safetensors file or directory")],
                    overwrite: Annotated[bool, typer.Option(help="replace an existing output file")] = False) -> None:
    """Rewrite a torch checkpoint's state dict as safetensors (keys and dtypes kept; read with weights_only)."""
    def go() -> None:
        from worldwarp.weights import convert

        path, n = convert(src, out, overwrite=overwrite)
        typer.echo(f"{path} ({n} tensors)")
    guarded(go)()


from .real_photo_cmd import real_photo as _real_photo  # noqa: E402  (its own module: cli.py stays small)

app.command("real-photo")(_real_photo)


def main() -> None:
    app(prog_name="worldwarp")


if __name__ == "__main__":
    main()
