"""Per-array precision: colour frames as uint8, depths, latents and the Gaussians' non-position fields as float16,
decoded on read, so every reader sees the values the next stage computed on; the video is the stored frames;
a run's store stays small; old float32 stores still read."""

import json

import numpy as np
import pytest

from conftest import TINY
from stages.runner import run_longshot
from stages.warp import read_render
from worldwarp.config import load_params
from worldwarp.io.video import to_uint8
from worldwarp.store import RunStore, StoreError
from worldwarp.store.groups import read_checked, write_published
from worldwarp.store.precision import PRECISION, decode, encode


def test_unit8_is_the_video_rounding_and_idempotent():
    x = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32) * 1.2 - 0.1
    q = encode(x, "unit8")
    assert q.dtype == np.uint8 and np.array_equal(q, to_uint8(x))  # the video's own quantisation
    back = decode(q, "unit8")
    assert np.abs(back - np.clip(x, 0, 1)).max() <= 1 / 510 + 1e-7
    assert np.array_equal(to_uint8(back), q) and np.array_equal(encode(back, "unit8"), q)  # a fixed point


def test_f16_keeps_three_digits_and_never_overflows():
    d = np.array([0.0, 1e-3, 2.5, 37.2, 1e4, 1e6, -1e6, np.inf, -np.inf, np.nan], np.float32)
    back = decode(encode(d, "f16"), "f16")
    assert back.dtype == np.float32 and np.isfinite(back[:7]).all()  # a finite value never becomes inf
    np.testing.assert_allclose(back[:5], d[:5], rtol=2 ** -11)
    assert back[5] == 65504 and back[6] == -65504
    assert back[7] == np.inf and back[8] == -np.inf and np.isnan(back[9])  # "no depth" keeps its meaning
    assert np.array_equal(decode(encode(back, "f16"), "f16"), back, equal_nan=True)


def test_written_arrays_have_their_disk_dtype_and_read_back_decoded(tmp_path):
    s = RunStore.create(tmp_path, "p", params={}, input_digest="d", code_version="v", total_frames=5, frame_shape=(8, 8))
    rng = np.random.default_rng(1)
    arrays = {"rgb": rng.random((5, 8, 8, 3), np.float32), "depth": rng.random((5, 8, 8), np.float32) * 10,
              "alpha": rng.random((5, 8, 8), np.float32), "mask": (rng.random((5, 8, 8)) > 0.5).astype(np.uint8)}
    s.write_stage(0, "warp", "k", arrays)
    d = s.stage_dir(0, "warp")
    disk = {n: json.loads((d / n / "zarr.json").read_text())["data_type"] for n in arrays}
    assert disk == {"rgb": "uint8", "depth": "float16", "alpha": "uint8", "mask": "uint8"}
    back = s.read_stage(0, "warp")
    for n in ("rgb", "depth", "alpha"):
        assert back[n].dtype == np.float32
        np.testing.assert_array_equal(back[n], decode(encode(arrays[n], PRECISION[("warp", n)]), PRECISION[("warp", n)]))
    np.testing.assert_array_equal(s.read_array(0, "warp", "rgb", frames=slice(1, 3)), back["rgb"][1:3])
    # a stage written from what was read is byte-for-byte the same data (memory == store, again and again)
    s.write_stage(0, "warp", "k2", back)
    again = s.read_stage(0, "warp")
    assert all(np.array_equal(again[n], back[n]) for n in back)


# what the pipeline writes, array by array, on disk (TINY, classical filler: no latents)
DISK = {
    "geometry": {"rgb": "uint8", "depth": "float16", "K": "float32", "w2c": "float32", "confidence": "float32"},
    "gaussians": {"means": "float32", "quats": "float16", "scales": "float16", "opacities": "float16", "sh": "float16",
                  "loss": "float32"},
    "warp": {"mask": "uint8"},
    "render": {"rgb": "uint8", "depth": "float16", "alpha": "uint8"},  # dropped once the chunk after it finishes (store.keep_renders)
    "frames": {"rgb": "uint8"},
    "handoff": {"rgb": "uint8", "K": "float32", "w2c": "float32"},
}


def test_a_demo_run_stores_each_array_at_its_precision_and_the_video_matches(tmp_path):
    cfg = load_params(None, [*TINY, "chunk.count=2", f"artifacts={tmp_path}", "tracking.mlflow=false"])
    store = run_longshot(cfg, "p")
    for k in store.chunks():
        last = k == max(store.chunks())
        assert store.stages(k) == [g for g in DISK if last or g != "render"]
        for g in store.stages(k):
            d, attrs = store.stage_dir(k, g), store.stage_attrs(k, g)
            # the history frames are stored once, in frames: handoff and later geometry link to them
            linked = {"handoff": {"rgb"}, "geometry": {"rgb"} if k > 0 else set()}.get(g, set())
            assert set(attrs.get("links", {})) == linked
            meta = {n: json.loads((d / n / "zarr.json").read_text()) for n in attrs["arrays"] if n not in linked}
            want = {n: t for n, t in DISK[g].items() if n not in linked}
            assert {n: m["data_type"] for n, m in meta.items()} == want
            assert {n: m["attributes"].get("precision") for n, m in meta.items() if "precision" in m["attributes"]} \
                == {n: PRECISION[(g, n)] for n in want if (g, n) in PRECISION}
    video = store.read_video()
    new = store.read_stage(1, "frames")["rgb"][cfg.chunk.history:]
    np.testing.assert_array_equal(to_uint8(new), video[-len(new):])  # the video is the stored frames, exactly
    # the next chunk's history is exactly the stored frames, and its geometry holds them unchanged
    hand = store.read_stage(0, "handoff")["rgb"]
    np.testing.assert_array_equal(hand, store.read_stage(0, "frames")["rgb"][-cfg.chunk.history:])
    np.testing.assert_array_equal(store.read_stage(1, "geometry")["rgb"], hand)
    # what a stage computed on is what is stored: the warp's history frames are geometry's, read back
    np.testing.assert_array_equal(read_render(store, 1)[:cfg.chunk.history], hand)
    per_chunk = [sum(store.stage_attrs(k, s)["nbytes"] for s in store.stages(k)) for k in store.chunks()]
    as_read = sum(a.nbytes for k in store.chunks() for s in store.stages(k) for a in store.read_stage(k, s).values())
    print(f"stored {per_chunk} bytes per chunk for {as_read} bytes as read")
    # measured 569 / 661 kB (0.23 of the bytes as read); float32 + lz4 (before the table): 1.9 / 2.1 MB
    assert max(per_chunk) < 800_000 and sum(per_chunk) < 0.3 * as_read


@pytest.mark.parametrize("how", ["bogus"])
def test_an_unknown_precision_attribute_is_refused(tmp_path, how):
    s = RunStore.create(tmp_path, "p", params={}, input_digest="d", code_version="v", total_frames=5, frame_shape=(8, 8))
    s.write_stage(0, "warp", "k", {"rgb": np.zeros((2, 8, 8, 3), np.float32)})
    meta_path = s.stage_dir(0, "warp") / "rgb" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["precision"] = how
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="damaged"):  # the manifest notices the edit first
        s.read_stage(0, "warp")
    with pytest.raises(StoreError, match="unknown precision 'bogus'"):  # and without one, the reader refuses it
        read_checked(s.stage_dir(0, "warp"), "rgb", None)


def test_a_float32_group_written_before_the_table_reads_as_stored(tmp_path):
    s = RunStore.create(tmp_path, "p", params={}, input_digest="d", code_version="v", total_frames=5, frame_shape=(8, 8))
    rgb = np.random.default_rng(2).random((3, 8, 8, 3), np.float32)
    # the old writer: float32 as the stage made it, no precision attribute
    write_published(s.stage_dir(0, "frames"), {"rgb": rgb},
                    {"stage": "frames", "chunk": 0, "key": "k", "complete": False, "arrays": ["rgb"]},
                    lambda tmp: {"complete": True})
    back = s.read_stage(0, "frames", key="k")["rgb"]
    assert back.dtype == np.float32 and np.array_equal(back, rgb)
