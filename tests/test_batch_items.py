"""A batch's items, without Prefect: photos and experiments, their run ids, and one-line refusals."""

import csv

import pytest

from stages.batch import ItemResult, batch_items, is_finished, write_summary
from worldwarp.config import ConfigError, load_params
from worldwarp.store import RunStore


def _cfg(*overrides):
    return load_params(None, list(overrides))


def test_items_from_photos_and_experiments(tmp_path):
    for name in ("b photo.JPG", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    items = batch_items(_cfg(f"batch.images={tmp_path}", "batch.experiments=[garden_orbit]"))
    assert [i.name for i in items] == ["img-a", "img-b-photo", "garden_orbit"]
    assert items[0].overrides == [f"scene.image={tmp_path / 'a.png'}"]
    cfg = _cfg("batch.experiments=[all]")
    assert [i.name for i in batch_items(cfg)] == list(cfg.experiments.runs)
    assert batch_items(cfg)[0].overrides == [*cfg.experiments.common, *cfg.experiments.runs["room_forward"]]


@pytest.mark.parametrize("overrides, message", [
    ([], "empty batch"),
    (["batch.experiments=[nope]"], "unknown experiment 'nope'"),
    (["batch.images=/no/such/folder"], "is not a folder"),
])
def test_bad_batches_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        batch_items(_cfg(*overrides))
    assert "\n" not in str(e.value)


def test_finished_means_the_store_says_complete(tmp_path):
    cfg = _cfg(f"artifacts={tmp_path}")
    assert not is_finished(cfg, "r")
    store = RunStore.create(tmp_path / "runs", "r", params={}, input_digest="d" * 64, code_version="t")
    assert not is_finished(cfg, "r")
    store.set_status("complete")
    assert is_finished(cfg, "r")


def test_summary_table_and_plot(tmp_path):
    rows = [ItemResult("a", "Completed", 12.5, 15, "host:1"), ItemResult("b", "Failed", 1.0, None, "host:2", "boom")]
    table, plot = write_summary(rows, tmp_path / "s")
    got = list(csv.DictReader(table.open()))
    assert [(r["name"], r["state"], r["error"]) for r in got] == [("a", "Completed", ""), ("b", "Failed", "boom")]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
