"""MLflow tracking: one parent run per longshot, one child run per chunk.

Logging is idempotent, so a resumed longshot continues its own parent run and never logs a chunk twice:
runs are found again by tags (the store's run id, the chunk index).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from stages import STAGES
from stages.common import span
from stages.runner import MODULES
from stages.warp import read_render
from worldwarp.config import WorldWarpConfig
from worldwarp.geometry.trajectory_io import save_cameras_npz
from worldwarp.geometry.cameras import Cameras
from worldwarp.io.sheets import contact_sheet, plot_trajectory
from worldwarp.io.video import write_mp4, write_png
from worldwarp.store import RunStore

RUN_TAG, CHUNK_TAG = "worldwarp.run_id", "worldwarp.chunk"


def tracking_uri(cfg: WorldWarpConfig) -> str:
    if cfg.tracking.uri:
        return cfg.tracking.uri
    return f"sqlite:///{(Path(cfg.artifacts) / 'mlflow.db').resolve()}"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = str(v)[:6000]
    return out


# schemes whose artifact repository MLflow has built in (and fsspec can write too); memory:// and the like are not
MLFLOW_SCHEMES = ("s3", "gs")


def artifact_location(cfg: WorldWarpConfig) -> str:
    """Where a new experiment keeps its artifacts: ``<shared storage>/mlflow`` when the run stores are on an
    object store MLflow can write (S3: boto3, so AWS_ENDPOINT_URL or MLFLOW_S3_ENDPOINT_URL for MinIO/moto),
    else ``<artifacts>/mlartifacts`` on this machine."""
    url = cfg.remote.url
    if url and url.split("://", 1)[0] in MLFLOW_SCHEMES:
        return f"{url.rstrip('/')}/mlflow"
    return (Path(cfg.artifacts) / "mlartifacts").resolve().as_uri()


def experiment_id(client: Any, cfg: WorldWarpConfig) -> str:
    """The experiment's id; created on first use. An existing experiment keeps the location it was made with."""
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(cfg.tracking.experiment, artifact_location=artifact_location(cfg))


def prepare_tracking(cfg: WorldWarpConfig) -> None:
    """Create the tracking store's tables and the experiment once, before many runs start at the same time:
    two processes creating a fresh sqlite store together race on its schema migration, and one stops tracking."""
    if cfg.tracking.mlflow:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri(cfg))
        experiment_id(mlflow.MlflowClient(), cfg)


def log_batch(cfg: WorldWarpConfig, name: str, states: dict[str, str], files: list[Path]) -> str | None:
    """One MLflow run for a batch: how many items ended how, and the summary table and plot as artifacts. It is
    the parent of its items' longshot runs (found by their ``worldwarp.run_id`` tag) in the same tracking store."""
    if not cfg.tracking.mlflow:
        return None
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(cfg))
    client = mlflow.MlflowClient()
    run = client.create_run(experiment_id(client, cfg), run_name=f"batch-{name}",
                            tags={"worldwarp.batch": name, "worldwarp.items": ",".join(states)[:5000]})
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    for state, n in counts.items():
        client.log_metric(run.info.run_id, f"items_{state.lower()}", n)
    client.log_metric(run.info.run_id, "items", len(states))
    for f in files:
        client.log_artifact(run.info.run_id, str(f))
    for item in states:
        for r in client.search_runs([run.info.experiment_id], f"tags.`{RUN_TAG}` = '{item}'", max_results=1000):
            if CHUNK_TAG not in r.data.tags:  # the item's longshot run, not one of its chunk runs
                client.set_tag(r.info.run_id, "mlflow.parentRunId", run.info.run_id)
    ok = all(s in ("Completed", "skipped") for s in states.values())
    client.set_terminated(run.info.run_id, status="FINISHED" if ok else "FAILED")
    return run.info.run_id


class Tracker:
    """Logs a longshot into MLflow. Construct, then ``start()``, ``chunk(k)`` per finished chunk, ``finish()``."""

    def __init__(self, cfg: WorldWarpConfig, store: RunStore):
        import mlflow

        self.mlflow, self.cfg, self.store = mlflow, cfg, store
        mlflow.set_tracking_uri(tracking_uri(cfg))
        self.client = mlflow.MlflowClient()
        self.experiment_id = self._experiment()
        self.parent_id: str | None = None

    def _experiment(self) -> str:
        return experiment_id(self.client, self.cfg)

    def _find(self, extra: str = "") -> list:
        q = f"tags.`{RUN_TAG}` = '{self.store.run_id}'" + extra
        return self.client.search_runs([self.experiment_id], q, max_results=1000)

    def start(self) -> str:
        parents = [r for r in self._find() if CHUNK_TAG not in r.data.tags]
        if parents:
            self.parent_id = parents[0].info.run_id
            self.client.update_run(self.parent_id, status="RUNNING")
            return self.parent_id
        rec = self.store.attrs.get("trajectory") or {}  # what the path resolved to (the params keep the preset's default)
        run = self.client.create_run(self.experiment_id, run_name=self.store.run_id,
                                     tags={RUN_TAG: self.store.run_id, "worldwarp.store": str(self.store.path),
                                           **({"worldwarp.trajectory": f"{rec['kind']} {rec['name']}"[:5000]} if rec else {})})
        self.parent_id = run.info.run_id
        params = _flatten(self.cfg.model_dump(mode="json", exclude={"experiments"}))
        items = list(params.items())
        from mlflow.entities import Param

        for i in range(0, len(items), 100):
            self.client.log_batch(self.parent_id, params=[Param(k, v) for k, v in items[i:i + 100]])
        self._log_inputs()
        return self.parent_id

    def _log_inputs(self) -> None:
        inp = self.store.read_input()
        from stages.inputs import chunk_labels, new_frame_starts

        with tempfile.TemporaryDirectory() as d:
            write_png(Path(d) / "input.png", np.asarray(inp["image"]))
            plot_trajectory(np.asarray(inp["w2c"]), Path(d) / "trajectory.png", new_frame_starts(self.cfg),
                            chunk_labels(self.cfg), np.asarray(inp["K"][0]))
            H, W = np.asarray(inp["image"]).shape[:2]
            save_cameras_npz(Path(d) / "cameras.npz", Cameras(np.asarray(inp["K"]), np.asarray(inp["w2c"]), W, H))
            self.client.log_artifacts(self.parent_id, d)

    def chunk(self, k: int) -> str | None:
        """Log chunk k's child run once it is complete (no-op if it was logged before)."""
        if self._find(f" and tags.`{CHUNK_TAG}` = '{k}'"):
            return None
        from mlflow.entities import Metric

        run = self.client.create_run(self.experiment_id, run_name=f"chunk-{k:03d}", tags={
            RUN_TAG: self.store.run_id, CHUNK_TAG: str(k), "mlflow.parentRunId": self.parent_id})
        rid = run.info.run_id
        read = self.store.read_array
        # each full-size array is read once, here, for both the metrics and the files
        out, warp_mask = read(k, "frames", "rgb"), read(k, "warp", "mask")
        # the render is dropped once the chunk is finished (store.keep_renders): a chunk logged later shows none
        warp_rgb = read_render(self.store, k)
        metrics = chunk_metrics(self.store, k, out, warp_rgb, warp_mask)
        ms = [Metric(n, float(v), 0, 0) for n, v in metrics.items() if v is not None and np.isfinite(v)]
        loss = self.store.read_array(k, "gaussians", "loss").astype(float)
        ms += [Metric("splat_loss", float(v), 0, i) for i, v in enumerate(loss)]
        for i in range(0, len(ms), 1000):
            self.client.log_batch(rid, metrics=ms[i:i + 1000])
        with tempfile.TemporaryDirectory() as d:
            self._chunk_files(k, Path(d), out, warp_rgb, warp_mask)
            self._chunk_ply(k, rid, Path(d))
            self.client.log_artifacts(rid, d)
        self.client.set_terminated(rid)
        return rid

    def _chunk_files(self, k: int, d: Path, out: np.ndarray, warp_rgb: np.ndarray | None, warp_mask: np.ndarray) -> None:
        write_mp4(d / f"chunk-{k:03d}.mp4", out)
        warped = np.zeros_like(out) if warp_rgb is None else warp_rgb  # a dropped render shows black
        sheet = contact_sheet(self.store.read_array(k, "geometry", "rgb"), warped, warp_mask, out)
        write_png(d / "contact_sheet.png", sheet)
        inp, sp = self.store.read_input(), span(self.cfg, k)
        sl = slice(sp.start, sp.stop)
        save_cameras_npz(d / "cameras.npz", Cameras(np.asarray(inp["K"][sl]), np.asarray(inp["w2c"][sl]),
                                                    out.shape[2], out.shape[1]))
        self._schedule_png(k, d)

    def _schedule_png(self, k: int, d: Path) -> None:
        """The per-token noise schedule (steps x latent frames) of an ST-Diff chunk; the classical filler has none."""
        if not self.store.stage_status(k, "latents").complete:
            return
        from worldwarp.io.schedule_image import schedule_image

        write_png(d / "noise_schedule.png", schedule_image(self.store.read_array(k, "latents", "t_tok")))

    def _chunk_ply(self, k: int, rid: str, d: Path) -> None:
        """The chunk's 3DGS cache as a standard .ply (SH included), unless it is bigger than tracking.ply_max_mb:
        then a tag says why it is missing (``worldwarp export ply`` writes it from the store at any size)."""
        from worldwarp.export.files import export_ply
        from worldwarp.splat import num_sh
        from worldwarp.splat.ply import property_names

        n = int(self.store.stage_attrs(k, "gaussians").get("count", 0))
        mb = n * len(property_names(num_sh(self.cfg.splat.sh_degree))) * 4 / 1e6  # float32 body; header < 2 kB
        if 0 < mb <= self.cfg.tracking.ply_max_mb:
            export_ply(self.store, d / f"gaussians-{k:03d}.ply", chunk=k)
        else:
            self.client.set_tag(rid, "worldwarp.ply", f"not logged: {n} Gaussians = {mb:.1f} MB > "
                                f"tracking.ply_max_mb={self.cfg.tracking.ply_max_mb}")

    def finish(self, status: str = "FINISHED", video: Path | None = None) -> None:
        if self.parent_id is None:
            return
        if video is not None and Path(video).is_file():
            self.client.log_artifact(self.parent_id, str(video))
        self.client.set_terminated(self.parent_id, status=status)


def memory_metrics(attrs: dict[str, Any]) -> dict[str, float | None]:
    """The world memory's numbers of one chunk (memory.mode=world; none otherwise): frames retrieved, the oldest
    video frame among them, the index's size, the frames searched (the world map before the chunk) and the map's
    frames and bytes after it, coverage, retrieval time, the Gaussians the retrieved frames seeded (after
    memory.seed_budget) and before thinning."""
    got = attrs.get("retrieved")
    if got is None:
        return {}
    return {"memory_retrieved": float(len(got)),
            "memory_oldest_frame": float(min(r["video_frame"] for r in got)) if got else None,
            "memory_candidates": attrs.get("memory_candidates"), "memory_index_bytes": attrs.get("memory_index_bytes"),
            "memory_map_frames": float(len(attrs["memory_map"])) if "memory_map" in attrs else None,
            "memory_map_bytes": attrs.get("memory_map_bytes"),
            "memory_coverage_history": attrs.get("coverage_history"),
            "memory_coverage_retrieved": attrs.get("coverage_retrieved"),
            "seconds_retrieval": attrs.get("retrieval_seconds"),
            "memory_retrieved_seeds": attrs.get("retrieved_seeds"),
            "memory_retrieved_seeds_unthinned": attrs.get("retrieved_seeds_unthinned")}


def chunk_metrics(store: RunStore, k: int, frames: np.ndarray, warp_rgb: np.ndarray | None,
                  warp_mask: np.ndarray) -> dict[str, float | None]:
    """Numbers of one finished chunk: stage times, holes, cache size, estimator residuals, warp-vs-output
    agreement. ``frames``, ``warp_rgb``, ``warp_mask``: the chunk's output and warp arrays, history included."""
    out: dict[str, float | None] = {}
    for stage in STAGES:
        out[f"seconds_{stage}"] = store.stage_attrs(k, MODULES[stage].GROUP).get("compute_seconds")
    h = int(store.stage_attrs(k, "warp")["history"])
    mask = np.asarray(warp_mask[h:], bool)
    out["hole_ratio"] = float(1 - mask.mean()) if mask.size else 0.0
    out["mask_coverage"] = 1.0 - out["hole_ratio"]
    out["history_confidence"] = float(np.mean(store.read_array(k, "geometry", "confidence")))
    # the estimator's alignment residuals (depth scale/shift/error, pose error after Sim(3)) are drift signals
    out.update({n: v for n, v in store.stage_attrs(k, "geometry").items() if n.startswith("residual_")})
    out["gaussians"] = float(store.stage_attrs(k, "gaussians").get("count", 0))
    out.update(memory_metrics(store.stage_attrs(k, "gaussians")))
    loss = store.read_array(k, "gaussians", "loss").astype(float)
    out["splat_final_loss"] = float(loss[-1]) if loss.size else None
    if warp_rgb is None:  # dropped already (store.keep_renders): logged late, after the next chunk finished
        return out
    abs_sum = sq_sum = 0.0
    n = int(mask.sum()) * 3
    for f, w, m in zip(frames[h:], warp_rgb[h:], mask):  # a frame at a time: no chunk-sized temporaries
        diff = f[m] - w[m]
        abs_sum += float(np.abs(diff, dtype=np.float64).sum())
        sq_sum += float(np.square(diff, dtype=np.float64).sum())
    if n:
        out["valid_l1_warp_vs_output"] = abs_sum / n
        out["valid_psnr_warp_vs_output"] = float(10 * np.log10(1 / max(sq_sum / n, 1e-12)))
    return out


class _Guarded:
    """Tracking must never lose a run, nor slow it: every MLflow call runs, in order, on one background
    thread (chunk k is logged while chunk k+1 computes), and a failing call becomes one warning, after
    which tracking stops. ``finish`` waits for everything queued. A chunk whose logging was lost to a
    kill is logged when the run resumes (``Tracker.chunk`` is idempotent)."""

    def __init__(self, make):
        from concurrent.futures import ThreadPoolExecutor

        self._t, self._make, self.error = None, make, None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow")

    def _call(self, name: str, *args, **kwargs):
        if self.error is not None:
            return None
        try:
            if self._t is None:
                self._t = self._make()
            return getattr(self._t, name)(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any tracking failure is reported, the run goes on
            import warnings

            self.error = e
            warnings.warn(f"MLflow tracking stopped: {type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)
            return None

    def start(self) -> None:
        self._pool.submit(self._call, "start")

    def chunk(self, k: int) -> None:
        self._pool.submit(self._call, "chunk", k)

    def finish(self, status: str = "FINISHED", video: Path | None = None) -> None:
        self._pool.submit(self._call, "finish", status, video).result()
        self._pool.shutdown()


class _Off:
    def start(self) -> None: ...

    def chunk(self, k: int) -> None: ...

    def finish(self, status: str = "FINISHED", video: Path | None = None) -> None: ...


def make_tracker(cfg: WorldWarpConfig, store: RunStore) -> _Guarded | _Off:
    return _Guarded(lambda: Tracker(cfg, store)) if cfg.tracking.mlflow else _Off()
