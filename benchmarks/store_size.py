"""What the run store holds per array and per chunk, before and after the precision table
(worldwarp/store/precision.py), on the CPU: the classical filler, procedural room, few 3DGS steps (the number
of Gaussians, and so their bytes, does not depend on the steps).

"before" is the same pipeline with the layout the store had before the table: every stage array as the stage
made it (float32) and blosc lz4-5. It is reproduced here by emptying the table and swapping the compressor
for the length of that run only. Both runs' videos are compared (PSNR), which is the quality cost.

    python benchmarks/store_size.py --height 480 --width 720 --frames 49 --chunks 2 --steps 2 \\
        --out docs/benchmarks/store_size_cpu_480x720.json

A 1000-frame run is extrapolated from the measured chunks: the first chunk, then the last one repeated.
The codec table re-encodes the last chunk's stored arrays with other blosc settings (bytes, write, read).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CODECS = [("lz4", 5), ("zstd", 1), ("zstd", 3), ("zstd", 5)]


@contextlib.contextmanager
def legacy_layout() -> Iterator[None]:
    """The store's layout before the precision table: no table, float32 as given, blosc lz4-5."""
    from zarr.codecs import BloscCodec

    from worldwarp.store import encoding, precision, video

    def lz4(dtype: np.dtype) -> BloscCodec:
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle" if dtype.itemsize > 1 else "noshuffle")

    table, old = dict(precision.PRECISION), (encoding.compressor, video.compressor)
    precision.PRECISION.clear()
    encoding.compressor = video.compressor = lz4
    try:
        yield
    finally:
        precision.PRECISION.update(table)
        encoding.compressor, video.compressor = old


def disk_bytes(path: Path) -> int:
    from worldwarp.store.atomic import tree_nbytes

    return tree_nbytes(path)[0]


def array_rows(store) -> list[dict]:
    rows = []
    for k in store.chunks():
        for g in store.stages(k):
            d = store.stage_dir(k, g)
            for name in store.stage_attrs(k, g)["arrays"]:
                meta = json.loads((d / name / "zarr.json").read_text())
                rows.append({"chunk": k, "group": g, "array": name, "shape": meta["shape"],
                             "dtype": meta["data_type"], "bytes": disk_bytes(d / name)})
    return rows


def group_rows(store) -> list[dict]:
    rows = []
    for k in store.chunks():
        for g in store.stages(k):
            a = store.stage_attrs(k, g)
            t = time.perf_counter()
            store.read_stage(k, g)
            rows.append({"chunk": k, "group": g, "bytes": a["nbytes"], "write_s": a["write_seconds"],
                         "read_s": round(time.perf_counter() - t, 4), "compute_s": a.get("compute_seconds")})
    return rows


def run(cfg, label: str) -> dict:
    from stages.runner import run_longshot

    t = time.perf_counter()
    store = run_longshot(cfg, label)
    wall = time.perf_counter() - t
    return {"store": store, "wall_s": round(wall, 1), "arrays": array_rows(store), "groups": group_rows(store),
            "video_bytes": disk_bytes(store.path / "video"), "input_bytes": disk_bytes(store.path / "input"),
            "total_bytes": disk_bytes(store.path)}


def chunk_bytes(res: dict, k: int) -> int:
    return sum(r["bytes"] for r in res["groups"] if r["chunk"] == k)


def extrapolate(res: dict, cfg, frames: int) -> dict:
    """Bytes of a ``frames``-frame run of this size: chunk 0, then the last measured chunk repeated."""
    f, h = cfg.chunk.frames, cfg.chunk.history
    n = 1 + math.ceil(max(0, frames - f) / (f - h))
    per_video_frame = res["video_bytes"] / cfg.chunk.total_frames
    last = max(r["chunk"] for r in res["groups"])
    total = (chunk_bytes(res, 0) + (n - 1) * chunk_bytes(res, last) + res["input_bytes"]
             + per_video_frame * (f + (n - 1) * (f - h)))
    return {"frames": f + (n - 1) * (f - h), "chunks": n, "bytes": int(total),
            "per_chunk_bytes_with_video": int(chunk_bytes(res, last) + per_video_frame * (f - h))}


def codec_table(store, k: int) -> list[dict]:
    """The last chunk's arrays, as stored (dtype on disk), re-encoded with each blosc setting."""
    import zarr
    from zarr.codecs import BloscCodec
    from zarr.storage import LocalStore

    from worldwarp.store.encoding import chunk_shards
    from worldwarp.store.groups import open_array

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for g in store.stages(k):
            for name in store.stage_attrs(k, g)["arrays"]:
                a = np.asarray(open_array(store.stage_dir(k, g) / name)[...])  # the encoded dtype, undecoded
                if a.nbytes < 1 << 20:
                    continue
                chunks, shards = chunk_shards(a.shape, a.dtype)
                for cname, level in CODECS:
                    path = Path(tmp) / f"{g}-{name}-{cname}{level}"
                    comp = BloscCodec(cname=cname, clevel=level, shuffle="shuffle" if a.itemsize > 1 else "noshuffle")
                    t = time.perf_counter()
                    z = zarr.create_array(LocalStore(path), shape=a.shape, dtype=a.dtype, chunks=chunks, shards=shards,
                                          compressors=comp, fill_value=0)
                    z[...] = a
                    w = time.perf_counter() - t
                    t = time.perf_counter()
                    back = zarr.open_array(LocalStore(path))[...]
                    r = time.perf_counter() - t
                    assert np.array_equal(back, a, equal_nan=a.dtype.kind == "f")
                    rows.append({"group": g, "array": name, "dtype": str(a.dtype), "codec": f"{cname}-{level}",
                                 "bytes": disk_bytes(path), "write_s": round(w, 3), "read_s": round(r, 3)})
    return rows


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def gt_psnr(store, stride: int = 4) -> float:
    """Mean PSNR (dB) of every ``stride``-th generated video frame against the procedural scene's exact render."""
    from worldwarp.config import validate_stored
    from worldwarp.geometry.cameras import Cameras
    from worldwarp.io.video import to_uint8
    from worldwarp.scenes import make_scene

    cfg = validate_stored(store.params)
    inp, scene = store.read_input(), make_scene(cfg.scene.name)
    K, w2c, video = np.asarray(inp["K"]), np.asarray(inp["w2c"]), store.read_video()
    idx = list(range(stride, len(video), stride))  # frame 0 is the input image itself
    gt = to_uint8(scene.render(Cameras(K[idx], w2c[idx], cfg.resolution.width, cfg.resolution.height))[0].numpy())
    return float(np.mean([psnr(g, v) for g, v in zip(gt, video[idx])]))


def quality(before, after) -> dict:
    """The precision's cost: the two runs' videos and the warps the denoiser got, compared with each other,
    and each video against the scene's exact frames."""
    from stages.warp import read_render
    from worldwarp.io.video import to_uint8

    out = {"before_vs_gt_psnr_db": gt_psnr(before), "after_vs_gt_psnr_db": gt_psnr(after),
           "video_psnr_db": psnr(before.read_video(), after.read_video()),
           "video_max_abs_8bit": int(np.abs(before.read_video().astype(int) - after.read_video().astype(int)).max())}
    for k in after.chunks():
        out[f"chunk{k}_warp_rgb_psnr_db"] = psnr(to_uint8(read_render(before, k)), to_uint8(read_render(after, k)))
        out[f"chunk{k}_frames_psnr_db"] = psnr(to_uint8(before.read_stage(k, "frames")["rgb"]),
                                               to_uint8(after.read_stage(k, "frames")["rgb"]))
    return out


def report(res: dict, before: dict | None) -> None:
    old = {(r["chunk"], r["group"], r["array"]): r for r in (before or {}).get("arrays", [])}
    print(f"{'chunk/group/array':28} {'before':>22} {'after':>22}")
    for r in res["arrays"]:
        o = old.get((r["chunk"], r["group"], r["array"]))
        was = f"{o['bytes'] / 1e6:9.2f} MB {o['dtype']:>8}" if o else ""
        name = f"{r['chunk']}/{r['group']}/{r['array']}"
        print(f"{name:28} {was:>22} {r['bytes'] / 1e6:9.2f} MB {r['dtype']:>8}")
    for name, x in (("before", before), ("after", res)):
        if x:
            chunks = sorted({r["chunk"] for r in x["groups"]})
            print(f"{name}: per chunk " + ", ".join(f"{chunk_bytes(x, k) / 1e6:.1f} MB" for k in chunks)
                  + f"; video {x['video_bytes'] / 1e6:.1f} MB; store {x['total_bytes'] / 1e6:.1f} MB;"
                  + f" 1000 frames (extrapolated) {x['extrapolated_1000']['bytes'] / 1e9:.2f} GB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=720)
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--history", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--scene", default="room")
    ap.add_argument("--no-before", action="store_true", help="measure the current layout only")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    from worldwarp.config import load_params

    res: dict = {"date": datetime.date.today().isoformat(),
                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only",
                 "size": [a.height, a.width], "chunk_frames": a.frames, "history": a.history, "chunks": a.chunks,
                 "splat_steps": a.steps, "scene": a.scene}
    with tempfile.TemporaryDirectory() as tmp:
        def cfg_for(label: str):
            return load_params(None, [f"resolution.height={a.height}", f"resolution.width={a.width}",
                                      f"chunk.frames={a.frames}", f"chunk.history={a.history}",
                                      f"chunk.count={a.chunks}", f"splat.steps={a.steps}", f"scene.name={a.scene}",
                                      "diffusion.backend=classical", "device=cpu", "tracking.mlflow=false", "store.keep_renders=true",
                                      f"artifacts={tmp}/{label}"])

        runs = {}
        if not a.no_before:
            with legacy_layout():
                runs["before"] = run(cfg_for("before"), "before")
        runs["after"] = run(cfg_for("after"), "after")
        for r in runs.values():
            r["extrapolated_1000"] = extrapolate(r, cfg_for("x"), 1000)
        after = runs["after"]["store"]
        res["codecs_last_chunk"] = codec_table(after, max(after.chunks()))
        if "before" in runs:
            res["quality"] = quality(runs["before"]["store"], after)
        report(runs["after"], runs.get("before"))
        res.update({name: {k: v for k, v in r.items() if k != "store"} for name, r in runs.items()})
    for c in res["codecs_last_chunk"]:
        print(f"codec {c['group']}/{c['array']} {c['dtype']} {c['codec']}: {c['bytes'] / 1e6:.2f} MB, "
              f"write {c['write_s']:.2f} s, read {c['read_s']:.2f} s")
    if "quality" in res:
        print("quality:", json.dumps(res["quality"]))
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
