"""What the Studio does, without any web framework: build a run's config from the page's choices, generate
the next chunks of a run through the same stages and store as every other entry point, roll back the last
chunk, and write the per-chunk media and the downloads. The Gradio page (app.py) only calls these."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common import apply_threads, span
from stages.guard import RunGuard
from stages.runner import MODULES, open_run, run_stage, stored_config
from stages.warp import read_render
from stages import STAGES
from worldwarp.config import WorldWarpConfig, load_params
from worldwarp.store import RunStore, StoreError  # noqa: F401 - StoreError for the page's messages

from flows.checks import preflight, trajectory_override

from .lock import shared_copy, writer


class StudioError(RuntimeError):
    """A request the Studio refuses; the message is one readable line for the page."""


@dataclass
class Choice:
    """What the page asks for: the input, the prompt, the camera, the length of the longshot."""
    image: str | None = None  # a photo; None: the procedural scene
    scene: str = "room"
    prompt: str = ""
    movement: str = "forward"  # a preset or a movement expression ("DOLLY_IN + PAN_RIGHT")
    speed: float = 1.0
    camera_file: str | None = None  # cameras.npz / RealEstate10K .txt: overrides ``movement``
    chunks: int | None = None  # chunks of the whole longshot; None: the configured count


def _keep_upload(path: str, root: Path) -> str:
    """Copy an uploaded file under the artifacts, named by its content: Gradio's temporary copy goes away,
    and a resume re-reads the run's inputs from their paths."""
    src = Path(path)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    dst = root / "studio" / "uploads" / f"{digest}{src.suffix.lower()}"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return str(dst)


def build_config(base: list[str], choice: Choice) -> WorldWarpConfig:
    """The run's config: the app's base overrides, then the page's choices (validated like the CLI's)."""
    root = Path(load_params(None, base).artifacts)
    extra = [f"scene.name={choice.scene}", f"trajectory.speed={choice.speed}"]
    if choice.image:
        extra.append(f"scene.image={_keep_upload(choice.image, root)}")
    if choice.prompt.strip():
        extra.append(f"prompt.text={json.dumps(choice.prompt.strip())}")
    extra.extend(_camera_override(choice, root))
    if choice.chunks:
        extra.append(f"chunk.count={int(choice.chunks)}")
    return load_params(None, [*base, *extra])


def _camera_override(choice: Choice, root: Path) -> list[str]:
    """A camera file wins; else the movement box, read as the CLI's --trajectory is (a preset, movements joined by
    +, "A; B + C; D" for one per chunk: worldwarp/geometry/names.py)."""
    if choice.camera_file:
        return trajectory_override(_keep_upload(choice.camera_file, root))
    return trajectory_override(choice.movement.strip() or "forward")


def config_of(store: RunStore) -> WorldWarpConfig:
    """A store's own config (as ``worldwarp resume`` rebuilds it)."""
    return stored_config(store)


def store_path(cfg: WorldWarpConfig, run_id: str) -> Path:
    return Path(cfg.artifacts) / "runs" / f"{run_id}.zarr"


def new_run_id() -> str:
    return f"studio-{uuid.uuid4().hex[:10]}"


def finished_chunks(store: RunStore, cfg: WorldWarpConfig) -> list[int]:
    """Chunks whose last stage is complete (the store is healed on open, so these are whole)."""
    group = MODULES[STAGES[-1]].GROUP
    return [k for k in store.chunks() if k < cfg.chunk.count and store.stage_status(k, group).complete]


def generate(cfg: WorldWarpConfig, path: Path, n: int, track: bool = True) -> Iterator[tuple[str, int, str]]:
    """Generate the next ``n`` chunks of the run at ``path`` (created when new): yields ("stage", k, name)
    before each stage and ("chunk", k, "") after each chunk. Holds the run's lease throughout."""
    preflight(cfg, new_run=not path.exists())  # missing weights, device or services fail here, before the store is touched
    logging.getLogger("worldwarp.studio").info("run: %s", apply_threads(cfg))  # not in the keys: DETERMINISM.md
    with writer(path, cfg) as lease:
        guard = RunGuard(lease, shared_copy(path, cfg))
        guard.pull(path)  # a run begun on another machine continues from its shared copy
        reopen = path if path.exists() else None
        store, keys = open_run(cfg, path.name.removesuffix(".zarr"), store_path=reopen)
        guard.store = store
        guard.sync()
        done = finished_chunks(store, cfg)
        first = len(done)
        todo = list(range(first, min(first + n, cfg.chunk.count)))
        if not todo:
            raise StudioError(f"all {cfg.chunk.count} chunks of this run are generated; roll back or reset")
        tracker = _tracker(cfg, store) if track else None
        store.set_status("running")
        try:
            for k in todo:
                for stage in STAGES:
                    guard.check()  # taken over (this job was presumed dead): stop before writing more
                    yield "stage", k, stage
                    run_stage(store, k, stage, cfg, keys[(k, stage)])
                    guard.sync(k)
                if tracker is not None:
                    tracker.chunk(k)
                yield "chunk", k, ""
        except BaseException:
            if not guard.lost:  # the new owner's status is not ours to overwrite
                store.set_status("failed")
                guard.sync()
            if tracker is not None:
                tracker.finish("FAILED")
            raise
        complete = todo[-1] == cfg.chunk.count - 1
        store.set_status("complete" if complete else "running")
        if complete:
            guard.finish()  # the video too, then the root's status
        else:
            guard.sync()
        if tracker is not None:
            tracker.finish("FINISHED")


def _tracker(cfg: WorldWarpConfig, store: RunStore):
    from flows.tracking import make_tracker

    t = make_tracker(cfg, store)
    t.start()
    return t


def rollback(path: Path) -> int:
    """Drop the run's last chunk (its groups and its new frames); returns the chunk dropped."""
    # the store's own settings say where its lease lives (beside a shared copy, when it has one)
    cfg = config_of(RunStore.open(path)) if (path / "zarr.json").is_file() else None
    with writer(path, cfg):
        store = RunStore.open(path)
        chunks = store.chunks()
        if not chunks:
            raise StudioError("this run has no chunk to roll back")
        k = chunks[-1]
        remote = shared_copy(path, cfg)
        if remote is not None:  # first there: a roll back killed half-way leaves the chunk here, visibly not undone
            remote.drop_chunk(k)
        store.drop_chunk(k, span(config_of(store), k).new_start)
        RunGuard(None, remote, store).sync()  # the shared root's status: running again
        return k


# ---- what the page shows and offers ----------------------------------------------------------------------

def media_dir(store: RunStore) -> Path:
    """Files made for the page, beside the store (never inside it: the store holds only stage outputs)."""
    return store.path.parent.parent / "studio" / store.run_id


def noise_levels(mask: np.ndarray, history: int, cfg: WorldWarpConfig) -> np.ndarray:
    """(F, H, W) start noise level per token, as ST-Diff's tokenwise schedule sets it from the validity mask:
    history 0, warped sigma_start, holes sigma_filled, mixed tokens in between (the mask pooled per token)."""
    from worldwarp.diffusion.latent_grid import token_block
    from worldwarp.diffusion.schedule import start_levels
    import torch

    bh, bw = token_block()
    F, H, W = mask.shape
    m = np.asarray(mask, np.float32)[:, : H // bh * bh, : W // bw * bw]
    valid = m.reshape(F, H // bh, bh, W // bw, bw).mean(axis=(2, 4))
    hist = (np.arange(F) < history)[:, None, None]
    lv = start_levels(torch.from_numpy(valid), torch.from_numpy(hist), cfg.diffusion.sigma_start,
                      cfg.diffusion.sigma_filled).numpy()
    out = np.zeros((F, H, W), np.float32)
    out[:, : lv.shape[1] * bh, : lv.shape[2] * bw] = lv.repeat(bh, 1).repeat(bw, 2)
    return out


def chunk_media(store: RunStore, k: int) -> tuple[Path, Path]:
    """Chunk k's video and contact sheet (history | warped | mask | noise level | output), made once."""
    from worldwarp.io.sheets import contact_sheet
    from worldwarp.io.video import write_mp4, write_png

    d = media_dir(store)
    mp4, png = d / f"chunk-{k:03d}.mp4", d / f"sheet-{k:03d}.png"
    if mp4.exists() and png.exists():
        return mp4, png
    d.mkdir(parents=True, exist_ok=True)
    cfg, read = config_of(store), store.read_array
    out, mask = read(k, "frames", "rgb"), read(k, "warp", "mask")
    warped = read_render(store, k)  # Studio's own chunks keep it; a run made elsewhere may have dropped it
    warped = np.zeros_like(out) if warped is None else warped
    history = read(k, "geometry", "rgb")
    noise = noise_levels(mask, span(cfg, k).history, cfg)
    write_png(png, contact_sheet(history, warped, mask, out, noise=noise))
    write_mp4(mp4, out)
    return mp4, png


def forget_media(store: RunStore, k: int) -> None:
    for name in (f"chunk-{k:03d}.mp4", f"sheet-{k:03d}.png"):
        (media_dir(store) / name).unlink(missing_ok=True)


def downloads(store: RunStore) -> list[Path]:
    """The stitched mp4, cameras.npz, one 3DGS .ply per chunk, transforms.json with its frames (zip) and the
    Blender script, from what the store holds now (a run need not be finished)."""
    from worldwarp.export.files import export_blender, export_cameras, export_frames, export_mp4, export_nerfstudio
    from worldwarp.export.files import export_ply

    d = media_dir(store) / "downloads"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    files = [export_mp4(store, d / f"{store.run_id}.mp4"), export_cameras(store, d / "cameras.npz")]
    cfg = config_of(store)
    files += [export_ply(store, d / f"gaussians-{k:03d}.ply", chunk=k) for k in finished_chunks(store, cfg)]
    ns = d / "nerfstudio"
    ns.mkdir()
    export_nerfstudio(store, ns / "transforms.json")
    export_frames(store, ns)
    files.append(Path(shutil.make_archive(str(d / "nerfstudio"), "zip", ns)))
    files.append(export_blender(d))
    return files


def runs(cfg: WorldWarpConfig) -> list[str]:
    """Existing run stores under the artifacts, newest first (to continue one)."""
    root = Path(cfg.artifacts) / "runs"
    found = [p for p in root.glob("*.zarr") if (p / "zarr.json").is_file()] if root.is_dir() else []
    return [str(p) for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def photo_as_used(path: str, cfg: WorldWarpConfig) -> np.ndarray:
    """The uploaded photo checked as the CLI checks ``--image`` (type, size, mode), cropped and resized as the
    run will use it; raises InputImageError with one line otherwise."""
    from worldwarp.io.images import fit_to_resolution, read_image

    photo, _ = read_image(path)
    return fit_to_resolution(photo, cfg.resolution.height, cfg.resolution.width)


def preview_png(cfg: WorldWarpConfig, out: Path) -> str:
    """The camera path the run would follow (top view + side view with frustums), before any rendering."""
    from stages.inputs import chunk_labels, new_frame_starts, trajectory_cameras
    from worldwarp.io.sheets import plot_trajectory

    cams = trajectory_cameras(cfg)
    return str(plot_trajectory(cams.w2c.numpy(), out, new_frame_starts(cfg), chunk_labels(cfg), cams.K[0].numpy()))
