"""The Studio's Gradio page. Gradio is imported here only (never by ``import worldwarp`` or the CLI's start-up).

Each browser tab has its own ``gr.State`` (the run it works on), so two tabs never mix runs; the run's lease
(lock.py: the very lease CLI and flow runs take) refuses a second job on a run that is being written. Every
handler turns an exception into one readable line in the page's status box: never a stack trace.
"""

from __future__ import annotations

import logging
import os
import tempfile
import typing
from pathlib import Path

from worldwarp.config import load_params
from worldwarp.config.camera import Preset

from . import session as S

CSS = "#status {min-height: 2em}"
START = "Upload a photo (or leave it empty for the procedural scene), pick a movement, then **Generate**."


def _message(e: BaseException) -> str:
    """One line for the page: known errors say what is wrong; anything else is named as an internal error."""
    from flows.checks import user_errors
    from .lock import BusyError

    first = (str(e).splitlines() or [""])[0][:300]
    if isinstance(e, (S.StudioError, BusyError, ValueError, *user_errors())):
        return f"**Error:** {first or type(e).__name__}"
    # a bug: the page gets one line, the server's log the traceback
    logging.getLogger("worldwarp.studio").error("internal error", exc_info=e)
    return f"**Internal error** {type(e).__name__}: {first} (traceback in the server's log)"


def _store(state: dict) -> S.RunStore | None:
    p = state.get("store")
    return S.RunStore.open(p) if p and Path(p).exists() else None


def _gallery(store: S.RunStore | None) -> tuple[list, list]:
    """(chunk videos, contact sheets) of every finished chunk, with captions."""
    if store is None:
        return [], []
    ks = S.finished_chunks(store, S.config_of(store))
    media = [S.chunk_media(store, k) for k in ks]
    return ([(str(v), f"chunk {k}") for k, (v, _) in zip(ks, media)],
            [(str(p), f"chunk {k}: history | warped | mask | noise level | output") for k, (_, p) in zip(ks, media)])


def _view(state: dict) -> tuple[list, list, str]:
    """(videos, sheets, run info) after a failure: whatever of the run can still be shown, never an exception."""
    try:
        store = _store(state)
        return (*_gallery(store), _run_info(store))
    except Exception as e:  # noqa: BLE001 - e.g. a damaged store: the next Generate heals it
        return [], [], _message(e)


def _run_info(store: S.RunStore | None) -> str:
    if store is None:
        return "No run yet: **Generate** starts one."
    cfg = S.config_of(store)
    done = len(S.finished_chunks(store, cfg))
    info = f"Run `{store.run_id}` at `{store.path}`: {done}/{cfg.chunk.count} chunks."
    if cfg.tracking.mlflow:
        from flows.tracking import tracking_uri

        info += (f"  \nMLflow: `mlflow ui --backend-store-uri {tracking_uri(cfg)}`, then open the run named "
                 f"`{store.run_id}` in experiment `{cfg.tracking.experiment}`.")
    return info


def _choice(image, scene, prompt, movement, speed, camera_file, chunks) -> S.Choice:
    return S.Choice(image=image or None, scene=scene, prompt=prompt or "", movement=movement or "forward",
                    speed=float(speed), camera_file=camera_file or None, chunks=int(chunks) if chunks else None)


def build(base: list[str]):
    import gradio as gr

    cfg0 = load_params(None, base)
    presets = list(typing.get_args(Preset))
    from worldwarp.geometry.movements import MOVEMENTS

    moves = presets + sorted(MOVEMENTS)

    def preview(*inputs):
        try:
            cfg = S.build_config(base, _choice(*inputs))
            out = Path(tempfile.mkdtemp(prefix="studio-preview-")) / "trajectory.png"
            return S.preview_png(cfg, out), ""
        except Exception as e:  # noqa: BLE001 - the page shows every failure as one line
            return None, _message(e)

    def photo(path):
        if not path:
            return None, START
        try:
            return S.photo_as_used(path, cfg0), "Photo accepted."
        except Exception as e:  # noqa: BLE001
            return None, _message(e)

    def generate(state, n, *inputs, progress=gr.Progress()):
        state = dict(state or {})
        try:
            store = _store(state)
            continuing = store is not None
            if continuing:  # continue this run with its own settings
                cfg, path = S.config_of(store), store.path
            else:
                cfg = S.build_config(base, _choice(*inputs))
                path = S.store_path(cfg, S.new_run_id())
            total = int(n) * len(S.STAGES)
            for i, (what, k, stage) in enumerate(S.generate(cfg, path, int(n), track=cfg.tracking.mlflow)):
                state["store"] = str(path)
                if what == "stage":
                    progress(min(i / (total + int(n)), 1.0), desc=f"chunk {k}: {stage}")
                else:
                    yield state, *_gallery(S.RunStore.open(path)), f"Chunk {k} done.", _run_info(S.RunStore.open(path))
            store = S.RunStore.open(path)
            note = " (an existing run keeps its own input and camera: **Reset** to change them)" if continuing else ""
            yield (state, *_gallery(store), f"Generated up to chunk {len(S.finished_chunks(store, cfg)) - 1}.{note}",
                   _run_info(store))
        except Exception as e:  # noqa: BLE001
            videos, sheets, info = _view(state)
            yield state, videos, sheets, _message(e), info

    def rollback(state):
        state = dict(state or {})
        try:
            store = _store(state)
            if store is None:
                raise S.StudioError("no run to roll back")
            k = S.rollback(store.path)
            S.forget_media(store, k)
            msg = f"Rolled back chunk {k}."
        except Exception as e:  # noqa: BLE001
            msg = _message(e)
        videos, sheets, info = _view(state)
        return state, videos, sheets, msg, info

    def reset(state):
        return {}, [], [], "Reset: the next **Generate** starts a new run (the old one stays in the store).", _run_info(None)

    def resume(state, path):
        state = dict(state or {})
        try:
            if not path or not Path(path).is_dir():
                raise S.StudioError(f"no run store at {path!r}")
            store = S.RunStore.open(path)
            state["store"] = str(store.path)
            return state, *_gallery(store), f"Continuing run {store.run_id}.", _run_info(store)
        except Exception as e:  # noqa: BLE001
            videos, sheets, info = _view(state)
            return state, videos, sheets, _message(e), info

    def files(state):
        try:
            store = _store(state)
            if store is None:
                raise S.StudioError("no run yet: generate a chunk first")
            return [str(p) for p in S.downloads(store)], "Downloads ready."
        except Exception as e:  # noqa: BLE001
            return None, _message(e)

    with gr.Blocks(title="WorldWarp Studio", analytics_enabled=False) as demo:
        state = gr.State({})
        gr.Markdown("# WorldWarp Studio\nOne photo, a camera path, a longshot generated chunk by chunk.")
        gr.Markdown(f"Backends: diffusion `{cfg0.diffusion.backend}`, estimator `{cfg0.estimator.backend}`, "
                    f"splat `{cfg0.splat.backend}`, device `{cfg0.device}`, profile `{cfg0.profile}`; "
                    f"{cfg0.resolution.width}x{cfg0.resolution.height}, {cfg0.chunk.frames} frames per chunk.")
        with gr.Row():
            with gr.Column():
                # a plain file upload: the bytes reach the CLI's own checks (gr.Image would convert them first)
                image = gr.File(label="Photo (empty: procedural scene)", type="filepath", file_types=["image"],
                                elem_id="photo")
                photo_view = gr.Image(label="The photo as the run uses it", interactive=False, elem_id="photo-view",
                                      height=160)
                scene = gr.Dropdown(["room", "garden"], value=cfg0.scene.name, label="Procedural scene")
                prompt = gr.Textbox(label="Prompt (empty: the configured one)", value=cfg0.prompt.text or "")
            with gr.Column():
                movement = gr.Dropdown(moves, value=cfg0.trajectory.movements and cfg0.trajectory.movements[0]
                                       or cfg0.trajectory.preset, allow_custom_value=True, elem_id="movement",
                                       label="Movement: a preset, movements joined by + (combined), or ; between chunks")
                speed = gr.Slider(0.25, 4.0, value=cfg0.trajectory.speed, step=0.25, label="Speed")
                camera_file = gr.File(label="Camera file (cameras.npz / RealEstate10K .txt)", type="filepath",
                                      file_types=[".npz", ".txt"])
                chunks = gr.Number(value=cfg0.chunk.count, precision=0, minimum=1, maximum=64,
                                   label="Chunks in the whole longshot")
            with gr.Column():
                traj = gr.Image(label="Trajectory preview (top view + frustums)", interactive=False, elem_id="trajectory")
                preview_btn = gr.Button("Preview trajectory")
        inputs = [image, scene, prompt, movement, speed, camera_file, chunks]
        with gr.Row():
            n = gr.Slider(1, 5, value=1, step=1, label="Chunks per click", elem_id="per-click")
            gen_btn = gr.Button("Generate", variant="primary", elem_id="generate")
            back_btn = gr.Button("Roll back last chunk", elem_id="rollback")
            reset_btn = gr.Button("Reset", elem_id="reset")
        status = gr.Markdown(START, elem_id="status")
        info = gr.Markdown(_run_info(None), elem_id="run-info")
        # a grid, never the single-item zoom: every chunk stays visible as it arrives
        videos = gr.Gallery(label="Chunk videos", elem_id="chunk-videos", columns=4, height=260, preview=False,
                            object_fit="contain")
        sheets = gr.Gallery(label="Contact sheets (history | warped | validity mask | noise level | output)",
                            elem_id="contact-sheets", columns=2, height=420, preview=False, object_fit="contain")
        with gr.Row():
            dl_btn = gr.Button("Prepare downloads", elem_id="downloads-btn")
            dl = gr.File(label="Downloads", file_count="multiple", elem_id="downloads", interactive=False)
        with gr.Row():
            run_pick = gr.Dropdown(S.runs(cfg0), label="Continue an existing run (store path)", allow_custom_value=True)
            resume_btn = gr.Button("Open run")
        outs = [state, videos, sheets, status, info]
        image.change(photo, [image], [photo_view, status])
        preview_btn.click(preview, inputs, [traj, status])
        for c in (movement, speed, camera_file, chunks):
            c.change(preview, inputs, [traj, status])
        # one job at a time per tab; the run's lease refuses a second job on one run across tabs
        gen_btn.click(generate, [state, n, *inputs], outs, concurrency_limit=None)
        back_btn.click(rollback, [state], outs)
        reset_btn.click(reset, [state], outs)
        resume_btn.click(resume, [state, run_pick], outs)
        dl_btn.click(files, [state], [dl, status])
        # runs made since the page was built (by this or another tab, or the CLI) are offered too
        demo.load(lambda: gr.Dropdown(choices=S.runs(cfg0)), None, [run_pick])
    return demo


def launch(base: list[str], host: str = "127.0.0.1", port: int = 7860) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    import gradio as gr

    cfg = load_params(None, base)
    root = Path(cfg.artifacts).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # system fonts only: the default theme would ask Google Fonts from the browser
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    build(base).queue(default_concurrency_limit=4).launch(
        server_name=host, server_port=port, share=False, allowed_paths=[str(root)], theme=theme, css=CSS,
        footer_links=[], quiet=True, ssr_mode=False)
