"""Warped renders are dropped once their chunk is finished (store.keep_renders=false) and made again when a
chunk has to be denoised again; nothing else a run keeps or computes changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY
from stages.runner import run_longshot
from stages.warp import read_render
from worldwarp.config import load_params
from worldwarp.store import RunStore
from worldwarp.store.atomic import tree_nbytes


def _cfg(root, *extra: str):
    # 5 3DGS steps, not TINY's 20 (the fit was most of each of this file's six runs): which renders are kept,
    # dropped and made again, and that every run here equals the others bit for bit, do not depend on the fit
    return load_params(None, [*TINY, "splat.steps=5", f"artifacts={root}", "tracking.mlflow=false", *extra])


def _arrays(store: RunStore) -> dict[str, np.ndarray]:
    out = {}
    for k in store.chunks():
        for stage in store.stages(k):
            if stage != "render":
                out.update({f"{k}/{stage}/{n}": v for n, v in store.read_stage(k, stage).items()})
    return out


def _same(a: RunStore, b: RunStore) -> None:
    x, y = _arrays(a), _arrays(b)
    assert x.keys() == y.keys()
    for n in x:
        np.testing.assert_array_equal(x[n], y[n], err_msg=n)
    np.testing.assert_array_equal(a.read_video(), b.read_video())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("renders")
    kept = run_longshot(_cfg(root / "kept", "store.keep_renders=true"), "r")
    dropped = run_longshot(_cfg(root / "dropped"), "r")
    return kept, dropped


def test_finished_chunks_keep_no_render_and_nothing_else_changes(runs):
    kept, dropped = runs
    last = max(dropped.chunks())
    assert [k for k in dropped.chunks() if (dropped.stage_dir(k, "render")).exists()] == [last]  # the newest stays
    assert all(kept.stage_dir(k, "render").exists() for k in kept.chunks())
    assert read_render(dropped, 0) is None and read_render(kept, 0) is not None
    assert read_render(dropped, last).shape == read_render(kept, last).shape
    assert dropped.verify().ok
    _same(kept, dropped)
    saved = sum(tree_nbytes(kept.stage_dir(k, "render"))[0] for k in kept.chunks() if k != last)
    assert tree_nbytes(kept.path)[0] - tree_nbytes(dropped.path)[0] >= 0.9 * saved > 0


def test_a_chunk_denoised_again_is_rendered_again(runs, tmp_path):
    """A denoiser knob changes: every chunk denoises again; the dropped renders are made again first, and the
    run equals a fresh run with that knob."""
    _, dropped = runs
    import shutil

    shutil.copytree(dropped.path, tmp_path / "runs" / "r.zarr")
    again = run_longshot(_cfg(tmp_path, "diffusion.temporal_smoothing=0.2"), "r", replace=True)
    fresh = run_longshot(_cfg(tmp_path / "fresh", "diffusion.temporal_smoothing=0.2"), "r")
    _same(again, fresh)
    assert read_render(again, 0) is None  # dropped again once finished


def test_deleted_frames_of_a_finished_chunk_heal_through_a_new_render(runs, tmp_path):
    _, dropped = runs
    import shutil

    shutil.copytree(dropped.path, tmp_path / "runs" / "r.zarr")
    store = RunStore.open(tmp_path / "runs" / "r.zarr")
    next(p for p in (store.stage_dir(0, "frames") / "rgb").rglob("*") if p.is_file() and p.name != "zarr.json").unlink()
    healed = run_longshot(_cfg(tmp_path), "r")
    _same(healed, dropped)
    assert healed.verify().ok
