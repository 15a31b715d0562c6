"""World memory (memory.mode, docs/MEMORY.md): retrieval on paths with exactly known poses, bounded size over many
chunks, the splat.fresh alias, and a bit-identical resume of a run with the memory on."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from conftest import BIN, ROOT, TINY, assert_same_run, cli_env
from worldwarp.config import ConfigError, load_params, validate_stored
from worldwarp.config.memory import MemoryConfig
from worldwarp.memory import coverage, frame_index, retrieve
from worldwarp.splat import init_from_rgbd

W, H, F = 64, 48, 40.0
WALL = 5.0  # a frontal wall at z = 5: every camera below looks at it along +z
STEP = 4 / F  # the angle between index points at _index's stride


def _cams(xs, z0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    K = np.tile(np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]], np.float32), (len(xs), 1, 1))
    w2c = np.tile(np.eye(4, dtype=np.float32), (len(xs), 1, 1))
    w2c[:, 0, 3] = -np.asarray(xs, np.float32)  # camera centre at (x, 0, z0)
    w2c[:, 2, 3] = -z0
    return K, w2c


def _index(xs, age, z0: float = 0.0):
    K, w2c = _cams(xs, z0)
    depth = np.full((len(xs), H, W), WALL - z0, np.float32)
    idx = frame_index(depth, K, w2c, np.ones_like(depth), stride=4)
    return idx.xyz, idx.z, np.full(len(xs), age) if np.isscalar(age) else np.asarray(age)


def _cat(*parts):
    return tuple(np.concatenate(p) for p in zip(*parts))


def test_retrieval_finds_the_frames_a_returning_path_sees_again():
    """An out leg x = 0..7 m stored chunk by chunk; the camera is now at x = 9 (history) and returns to x = 0.2:
    the frames taken near x = 0 are picked, nearest first, and none of the far ones."""
    out = [_index([2.0 * j, 2.0 * j + 0.5], age=j) for j in range(4)]  # chunk j stored x = 2j, 2j + 0.5
    cand = _cat(*out)
    hist = _index([9.0], age=4)
    K, w2c = _cams([0.2, 0.3, 0.4])
    r = retrieve(cand, hist, K, w2c, W, H, MemoryConfig(mode="world", retrieve=2, min_gain=0.01))
    xs = [0, 0.5, 2, 2.5, 4, 4.5, 6, 6.5]
    assert [xs[c] for c in r.chosen][:1] == [0]  # the frame at x = 0 sees the new cameras' wall best
    assert all(xs[c] <= 2.5 for c in r.chosen)
    assert r.history_coverage < 0.05 and r.coverage > 0.95  # from x = 9 the wall near x = 0 is out of sight


def test_an_earlier_or_closer_observation_is_not_displaced_by_a_worse_one():
    """The same wall seen at the same pose by chunk 0 and again by chunk 5: chunk 0's is taken, and the re-
    observation adds nothing after it; seen from 3 m farther back, even an earlier frame loses to a close one."""
    cand = _cat(_index([0.0], age=5), _index([0.0], age=0))
    K, w2c = _cams([0.0])
    r = retrieve(cand, _index([30.0], age=6), K, w2c, W, H, MemoryConfig(mode="world", retrieve=2))
    assert r.chosen == [1]
    far_early, close_late = _index([0.0], age=0, z0=-3.0), _index([0.0], age=2)
    r = retrieve(_cat(far_early, close_late), _index([30.0], age=6), K, w2c, W, H,
                 MemoryConfig(mode="world", retrieve=1))
    assert r.chosen == [1]


def test_an_occluded_frame_is_not_retrieved():
    """A frame whose indexed points lie behind a nearer surface the memory holds (a wall at z = 2 seen by another
    frame) does not count as seeing the new camera's cells."""
    K, w2c = _cams([0.0])
    near = frame_index(np.full((1, H, W), 2.0, np.float32), K, w2c, stride=4)
    behind = _index([0.0], age=0)  # the far wall, seen through where the near one now stands
    cand = (np.concatenate([behind[0], near.xyz]), np.concatenate([behind[1], near.z]), np.array([0, 1]))
    r = retrieve(cand, _index([30.0], age=3), K, w2c, W, H, MemoryConfig(mode="world", retrieve=2))
    assert r.chosen == [1]


def test_memory_stays_bounded_over_many_chunks():
    """40 chunks along a path that goes out and back twice: every chunk retrieves at most K frames, the index is
    the same size per chunk, and the Gaussians seeded from history + retrieved frames stay flat."""
    cfg = MemoryConfig(mode="world", retrieve=3)
    stored, counts, index_bytes = [], [], []
    path = np.concatenate([np.linspace(0, 6, 10), np.linspace(6, 0, 10)] * 2)
    rgb = torch.rand(1, H, W, 3, generator=torch.Generator().manual_seed(0))
    for k, x in enumerate(path):
        hist = _index([x, x + 0.1], age=k)
        index_bytes.append(hist[0].nbytes + hist[1].nbytes)
        chosen = []
        if stored:
            K, w2c = _cams([x + 0.2, x + 0.3])
            chosen = retrieve(_cat(*stored), hist, K, w2c, W, H, cfg).chosen
        assert len(chosen) <= cfg.retrieve
        n = 2 + len(chosen)
        K, w2c = _cams([x] * n)
        g = init_from_rgbd(rgb.expand(n, -1, -1, -1), torch.full((n, H, W), WALL), torch.from_numpy(K),
                           torch.from_numpy(w2c))
        counts.append(len(g))
        stored.append(hist)
    assert len(set(index_bytes)) == 1
    assert max(counts[3:]) <= 1.3 * counts[3]


def _world_map(indexes, cfg: MemoryConfig, m=None, first: int = 0):
    from worldwarp.memory import FrameIndex, empty_map, merge

    m = empty_map() if m is None else m
    for j, (xyz, z, _) in enumerate(indexes):
        m = merge(m, FrameIndex(xyz, z, STEP), first + j, voxel=cfg.voxel, redundancy=cfg.redundancy,
                  age_decay=cfg.age_decay)
    return m


def test_the_world_map_drops_a_frame_another_saw_at_least_as_well():
    """A wall seen from the same pose by chunks 0 and 1: chunk 1's frame leaves the map (no closer, later). Seen 3 m
    closer by chunk 2 (closer by more than age_decay**2), that frame stays beside chunk 0's (it sees less of the
    wall); chunk 3 at chunk 2's pose leaves. A frame that trusted only a patch of the wall is replaced by a later,
    closer frame that saw all of that patch better."""
    cfg = MemoryConfig(mode="world")
    far, same, close, again = (_index([0.0], age=0, z0=-3.0), _index([0.0], age=1, z0=-3.0), _index([0.0], age=2),
                               _index([0.0], age=3))
    m = _world_map([far, same, close, again], cfg)
    assert m.frames.tolist() == [[0, 0], [2, 0]]
    assert np.isclose(m.voxel, cfg.voxel * 8.0 * STEP)  # the index's spacing at the first observations' depth
    K, w2c = _cams([0.0], z0=-3.0)
    conf = np.zeros((1, H, W), np.float32)
    conf[:, 16:32, 24:40] = 1  # chunk 0 trusted only the middle of its view
    patch = frame_index(np.full((1, H, W), 8.0, np.float32), K, w2c, conf, stride=4)
    m = _world_map([(patch.xyz, patch.z, 0), close], cfg)
    assert m.frames.tolist() == [[1, 0]]


def _reached(cand, hist, K, w2c, chosen, cfg) -> float:
    """The scan's own objective for a set of picks: the best quality per cell over history and picks, summed."""
    from worldwarp.memory.retrieval import scored_cameras

    c = scored_cameras(len(K), cfg.cameras)
    q = coverage(*_cat(cand, hist), K[c], w2c[c], W, H, cfg)
    n = len(cand[1])
    return float(np.max(q[[*chosen, *range(n, len(q))]], 0).sum())


@pytest.mark.parametrize("voxel, redundancy, least", [(1.0, 1.0, 1.0),
                                                      (MemoryConfig().voxel, MemoryConfig().redundancy, 0.96)])
def test_the_world_map_stops_growing_when_the_path_returns_and_picks_as_well_as_the_scan(voxel, redundancy, least):
    """Out and back twice along a wall, 2 frames a chunk: after the first out leg the map holds no more frames than
    it does then (the scan of every stored frame grows by 2 a chunk), and the frames each chunk retrieves from the
    map reach, by the scan's own measure (best quality per cell, summed), what the scan's picks reach: exactly, when
    only frames the others saw at least as well in every fine voxel leave the map; within 4 % at the defaults."""
    cfg = MemoryConfig(mode="world", retrieve=3, voxel=voxel, redundancy=redundancy)
    path = np.concatenate([np.linspace(0, 6, 10), np.linspace(6, 0, 10)] * 2)
    stored, sizes, ratio = [], [], []
    m = None
    for k, x in enumerate(path):
        hist = _index([x, x + 0.1], age=k)
        if stored:
            K, w2c = _cams([x + 0.2, x + 0.3])
            cand = _cat(*stored)
            scan = retrieve(cand, hist, K, w2c, W, H, cfg)
            r = retrieve((m.xyz, m.z, m.frames[:, 0]), hist, K, w2c, W, H, cfg)
            picks = [2 * int(m.frames[c, 0]) + int(m.frames[c, 1]) for c in r.chosen]
            ratio.append(_reached(cand, hist, K, w2c, picks, cfg) / _reached(cand, hist, K, w2c, scan.chosen, cfg))
        stored.append(hist)
        m = _world_map([hist], cfg, m, first=k)
        sizes.append(len(m.frames))
    assert max(sizes[10:]) == sizes[9] < 15, sizes  # 20 frames stored by then, 80 in all
    assert min(ratio) >= least - 1e-12, ratio


def test_splat_fresh_is_a_deprecated_alias_of_memory_mode():
    assert load_params(None, []).memory.mode == "world"  # the longshot profile's default (docs/MEMORY.md)
    assert load_params(None, ["splat.fresh=true"]).memory.mode == "fresh"
    assert load_params(None, ["splat.fresh=false"]).memory.mode == "append"
    assert load_params(None, ["profile=official"]).memory.mode == "fresh"
    assert load_params(None, ["profile=official", "splat.fresh=false"]).memory.mode == "append"  # explicit wins
    with pytest.raises(ConfigError, match="contradicts memory.mode=world"):
        load_params(None, ["splat.fresh=false", "memory.mode=world"])
    with pytest.raises(ConfigError, match="memory.retrieve only apply to memory.mode=world"):
        load_params(None, ["memory.mode=fresh", "memory.retrieve=2"])
    with pytest.raises(ConfigError, match=r"memory.seed_order only apply to memory.mode=world \(it is append\)"):
        load_params(None, ["memory.mode=append", "memory.seed_order=retrieved_first"])
    with pytest.raises(ConfigError, match=r"memory.voxel only apply to memory.mode=world \(it is fresh\)"):
        load_params(None, ["profile=official", "memory.voxel=2"])
    with pytest.raises(ConfigError, match="memory.retrieved_tolerance only applies with splat.dedup=true"):
        load_params(None, ["splat.dedup=false", "memory.retrieved_tolerance=0.2"])
    with pytest.raises(ConfigError, match="memory.retrieved_tolerance only applies with splat.dedup=true"):
        load_params(None, ["splat.dedup=false", "memory.retrieved_tolerance=0.02"])  # the older stores' value too
    # world's default tolerance is no knob the user set: without dedup it is simply not read
    assert load_params(None, ["splat.dedup=false"]).memory.retrieved_tolerance == 0.1
    with pytest.raises(ConfigError, match="memory.seed_order"):
        load_params(None, ["memory.mode=world", "memory.seed_order=newest"])


def test_fresh_and_append_keep_their_keys_and_params():
    """Stores written with splat.fresh keep their run ids and content keys: the params a store keeps and the
    gaussians key of fresh/append are what they were (splat.fresh in the params, no memory section)."""
    from stages.keys import stage_params
    from stages.runner import run_params

    for mode, fresh in (("fresh", True), ("append", False)):
        cfg = load_params(None, [f"memory.mode={mode}"])
        assert run_params(cfg)["splat"]["fresh"] is fresh and "memory" not in run_params(cfg)
        assert stage_params(cfg, "gaussians", 1)["splat"]["fresh"] is fresh
        assert load_params(None, [f"splat.fresh={str(fresh).lower()}"]) == cfg
    world = load_params(None, ["memory.mode=world"])
    assert run_params(world)["memory"]["mode"] == "world" and "fresh" not in run_params(world)["splat"]
    # the seeding knobs came after world stores existed: at the seeding those stores ran with they stay out of params,
    # keys and run ids; world's default seeding (history first, 10 %) is in both; a stored world params without them
    # reads back as the seeding it ran with, not as today's default
    later = {"seed_order", "retrieved_tolerance", "seed_budget"}
    budgeted = load_params(None, ["memory.mode=world", "memory.seed_budget=1.5"])
    assert stage_params(budgeted, "gaussians", 1)["memory"]["seed_budget"] == 1.5  # set, it is in the key
    assert "seed_budget" not in run_params(world)["memory"]  # unset (no limit), as every store before it ran
    old = load_params(None, ["memory.mode=world", "memory.seed_order=retrieved_first", "memory.retrieved_tolerance=0.02"])
    assert not later & set(run_params(old)["memory"]) and not later & set(stage_params(old, "gaussians", 1)["memory"])
    assert world.memory.seed_order == "history_first" and world.memory.retrieved_tolerance == 0.1
    assert run_params(world)["memory"]["seed_order"] == "history_first"
    assert stage_params(world, "gaussians", 1)["memory"]["retrieved_tolerance"] == 0.1
    assert validate_stored(run_params(old)).memory == old.memory
    assert validate_stored(run_params(world)).memory == world.memory
    # a world store written before the knobs, without dedup, reads back as it ran (not refused as a knob asked for)
    undeduped = run_params(load_params(None, ["splat.dedup=false"]))
    undeduped["memory"] = {k: v for k, v in undeduped["memory"].items() if k not in later}
    got = validate_stored(undeduped).memory
    assert (got.seed_order, got.retrieved_tolerance) == ("retrieved_first", 0.02)
    fresh = validate_stored(run_params(load_params(None, ["memory.mode=fresh"])))
    assert fresh.memory.mode == "fresh"  # no memory section: nothing to fill, and nothing refused


OVER = [*TINY, "resolution.height=32", "resolution.width=48", "chunk.frames=5", "chunk.history=2", "chunk.count=3",
        "splat.steps=4", "memory.mode=world", "memory.min_gain=0", "tracking.mlflow=false"]


@pytest.fixture(scope="module")
def world_run(tmp_path_factory):
    from stages.runner import run_longshot

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("world")
    return run_longshot(load_params(None, [*OVER, f"artifacts={tmp / 'ref'}"]), "w"), tmp


def test_a_crashed_world_run_resumes_bit_identical(world_run, tmp_path):
    """A run with the world memory, stopped by an error in chunk 2's 3DGS stage, resumes to exactly the arrays
    and video of an uninterrupted run; chunk 2 retrieved a frame of an earlier chunk, shown in its attrs."""
    from stages.runner import run_longshot
    from worldwarp.store import RunStore

    ref, _ = world_run

    def boom(k: int, stage: str) -> None:
        if (k, stage) == (2, "gaussians"):
            raise KeyboardInterrupt

    cfg = load_params(None, [*OVER, f"artifacts={tmp_path / 'cut'}"])
    with pytest.raises(KeyboardInterrupt):
        run_longshot(cfg, "w", on_stage=boom)
    again = run_longshot(cfg, "w")
    assert_same_run(ref, again)
    store = RunStore.open(again.path)
    got = store.stage_attrs(2, "gaussians")["retrieved"]
    assert got and all(r["chunk"] < 2 for r in got)
    # the world map: chunk 2 searched the frames chunk 1's map held, and its own map lists only stored frames
    maps = [store.stage_attrs(k, "gaussians")["memory_map"] for k in range(3)]
    assert store.stage_attrs(2, "gaussians")["memory_candidates"] == len(maps[1])
    assert all(0 <= j <= k and 0 <= i < 2 for k, m in enumerate(maps) for j, i in m)
    assert all([r["chunk"], r["frame"]] in maps[1] for r in got)
    shown = subprocess.run([str(BIN / "worldwarp"), "inspect", str(again.path)], env=cli_env(), cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"chunk 2 of {len(maps[1])} in the world map: frame {got[0]['video_frame']} (chunk {got[0]['chunk']}" \
        in shown.stdout

def test_history_first_seeds_the_history_frames_and_only_what_they_lack(world_run, tmp_path):
    """world's default seeding (history first, retrieved pixels skipped within 10 %) against the one before it
    (retrieved first, 2 %): chunk 1 (the same geometry in both: chunk 0 does not depend on the memory knobs)
    retrieves the same frame and fits fewer Gaussians, but at least as many as its history frames seed alone."""
    from stages.runner import run_longshot
    from worldwarp.splat import init_from_rgbd
    from worldwarp.splat.init import init_kwargs
    from worldwarp.store import RunStore

    ref = RunStore.open(world_run[0].path)
    cfg = load_params(None, [*OVER, f"artifacts={tmp_path}", "memory.seed_order=retrieved_first",
                             "memory.retrieved_tolerance=0.02"])
    old = RunStore.open(run_longshot(cfg, "v").path)
    for name in ("rgb", "depth", "w2c"):
        assert np.array_equal(np.asarray(ref.read_array(1, "geometry", name)), np.asarray(old.read_array(1, "geometry", name)))
    got = ref.stage_attrs(1, "gaussians")
    assert got["retrieved"] and got["retrieved"] == old.stage_attrs(1, "gaussians")["retrieved"]
    geo = {n: torch.from_numpy(np.asarray(ref.read_array(1, "geometry", n))) for n in ("rgb", "depth", "K", "w2c")}
    alone = len(init_from_rgbd(geo["rgb"], geo["depth"], geo["K"], geo["w2c"], **init_kwargs(cfg.splat)))
    assert alone <= got["count"] < old.stage_attrs(1, "gaussians")["count"]


def test_a_seed_budget_bounds_what_the_retrieved_frames_seed(world_run, tmp_path):
    """memory.seed_budget on a real world run: chunk 1 retrieves the same frame as without it (retrieval does not
    depend on the budget), and its cache holds at most what the history frames seed alone plus the budget (a
    tenth of a frame's pixels here), fewer than without it; the knob is refused outside world mode."""
    from stages.runner import run_longshot
    from worldwarp.splat.init import init_kwargs
    from worldwarp.store import RunStore

    ref = RunStore.open(world_run[0].path)
    cfg = load_params(None, [*OVER, f"artifacts={tmp_path}", "memory.seed_budget=0.1"])
    got = RunStore.open(run_longshot(cfg, "b").path)
    a, b = ref.stage_attrs(1, "gaussians"), got.stage_attrs(1, "gaussians")
    assert b["retrieved"] and b["retrieved"] == a["retrieved"]
    geo = {n: torch.from_numpy(np.asarray(got.read_array(1, "geometry", n))) for n in ("rgb", "depth", "K", "w2c")}
    alone = len(init_from_rgbd(geo["rgb"], geo["depth"], geo["K"], geo["w2c"], **init_kwargs(cfg.splat)))
    assert alone < b["count"] <= alone + round(0.1 * 32 * 48) < a["count"]
    # what the memory added, before and after the budget: in the attrs, MLflow's metrics and `inspect`
    assert b["count"] == alone + b["retrieved_seeds"] and b["retrieved_seeds"] < b["retrieved_seeds_unthinned"]
    assert a["retrieved_seeds"] == a["retrieved_seeds_unthinned"] == a["count"] - alone
    from flows.tracking import memory_metrics

    assert memory_metrics(b)["memory_retrieved_seeds"] == b["retrieved_seeds"]
    shown = subprocess.run([str(BIN / "worldwarp"), "inspect", str(got.path)], env=cli_env(), cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert (f"seeded {b['retrieved_seeds']:,} of their {b['retrieved_seeds_unthinned']:,} (memory.seed_budget)"
            in shown.stdout)
    with pytest.raises(ConfigError, match=r"memory.seed_budget only apply to memory.mode=world \(it is fresh\)"):
        load_params(None, ["memory.mode=fresh", "memory.seed_budget=1"])
    with pytest.raises(ConfigError, match=r"memory.seed_budget only applies when frames are retrieved"):
        load_params(None, ["memory.retrieve=0", "memory.seed_budget=1"])


def test_world_export_fuses_the_run_and_renders_a_camera_no_fit_saw(world_run):
    """world.ply (export --world): the caches of every chunk, one Gaussian per voxel, fewer than they hold; refined
    on the run's even frames; rendered at the run's last odd camera (no chunk and not the refinement fitted that
    frame), within 2 dB of the last chunk's own cache, unrefined too."""
    from worldwarp.export.files import run_cameras
    from worldwarp.export.world import export_world
    from worldwarp.metrics.image import psnr
    from worldwarp.scenes import make_scene
    from worldwarp.splat import load_ply, render

    from stages.gaussians import load_gaussians

    store, tmp = world_run
    n = store.read_video().shape[0]
    cams = run_cameras(store, n)
    caches = [load_gaussians(store, k) for k in store.chunks()]
    i = n - 1 if (n - 1) % 2 else n - 2  # the last odd frame
    cam = cams[i : i + 1]
    exact = make_scene("room").render(cam)[0]
    own = float(psnr(render(caches[-1], cam, backend="torch").rgb, exact))
    for steps in (0, 20):
        ply, score = export_world(store, tmp / f"world{steps}.ply", cams, steps=steps)
        g = load_ply(ply)
        assert 0 < len(g) < sum(len(c) for c in caches)  # overlapping chunks: each surface once
        assert score["refine_steps"] == steps and ("psnr_frames_held" in score) == (steps > 0)
        world = float(psnr(render(g, cam, backend="torch").rgb, exact))
        assert world >= own - 2.0, (steps, world, own)


def test_retrieval_scores_at_most_the_configured_cameras_evenly_spread():
    """memory.cameras bounds the cost (cameras x stored points): 44 new cameras are scored through 8, the first
    and last among them; a chunk's far end still finds the frame that only it sees."""
    from worldwarp.memory.retrieval import scored_cameras

    assert scored_cameras(44, 8).tolist() == [0, 6, 12, 18, 25, 31, 37, 43]
    assert scored_cameras(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert scored_cameras(1, 1).tolist() == [0]
    xs = np.linspace(0.0, 4.3, 44)  # the chunk's cameras walk from x = 0 to 4.3; only the last sees x >= 4
    cand = _cat(_index([0.0], age=0), _index([4.3], age=1))
    K, w2c = _cams(xs)
    for n in (44, 8, 2):
        r = retrieve(cand, _index([30.0], age=3), K, w2c, W, H,
                     MemoryConfig(mode="world", retrieve=2, cameras=n, min_gain=0.0))
        assert sorted(r.chosen) == [0, 1], n


def test_frames_out_of_every_view_are_skipped_without_changing_the_picks():
    """in_view drops a stored frame only if its points' bounding box lies beyond one frustum plane of every scored
    camera (behind them on a forward path): the picks are the same as scoring every frame, on a path that returns."""
    from worldwarp.memory import retrieval

    K, w2c = _cams([0.0])
    ahead, behind = _index([0.0], age=0), _index([0.0], age=1, z0=-20.0)  # a wall at z = 5 and one at z = -15
    behind = (behind[0] - np.array([0, 0, 20.0], np.float32), *behind[1:])
    assert retrieval.in_view(np.concatenate([ahead[0], behind[0]]), K, w2c, W, H).tolist() == [True, False]
    assert retrieval.in_view(np.full((1, 4, 3), np.nan, np.float32), K, w2c, W, H).tolist() == [False]
    out = [_index([2.0 * j, 2.0 * j + 0.5], age=j) for j in range(4)]
    cand, hist = _cat(*out, behind), _index([9.0], age=4)  # the last candidate is culled, the others scored
    Kc, w2cc = _cams([0.2, 0.3, 6.4])
    cfg = MemoryConfig(mode="world", retrieve=3, min_gain=0.0)
    assert retrieval.in_view(cand[0], Kc, w2cc, W, H).tolist() == [True] * 8 + [False]
    assert retrieve(cand, hist, Kc, w2cc, W, H, cfg, cull=False) == retrieve(cand, hist, Kc, w2cc, W, H, cfg)


def _export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "worldwarp"), "export", *args], env=cli_env(), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_export_world_scores_world_ply_at_every_camera_of_the_run(world_run, tmp_path):
    """`export --world --device cpu`: world_score.json beside world.ply holds, for every camera of the run, world.ply
    rendered there against the run's frame and against the exact render; frame i's entry is exactly that render
    against video frame i; the terminal gets one summary line."""
    from worldwarp.geometry.cameras import Cameras
    from worldwarp.metrics.image import psnr
    from worldwarp.scenes import make_scene
    from worldwarp.splat import load_ply, render

    store, _ = world_run
    out = tmp_path / "x"
    res = _export(str(store.path), "--world", "--device", "cpu", "--world-steps", "10", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    score = json.loads((out / "world_score.json").read_text())
    n = store.read_video().shape[0]
    assert score["cameras"] == n and score["device"] == "cpu" and score["refine_steps"] == 10
    assert score["held_out_frames"] == n // 2 and len(score["psnr_frames_held"]["per_frame"]) == n // 2
    assert len(score["psnr_frames"]["per_frame"]) == len(score["psnr_exact"]["per_frame"]) == n
    assert f"rendered at the run's {n} cameras" in res.stderr
    g, inp = load_ply(out / "world.ply"), store.read_input()
    for i in (0, n - 1):
        cam = Cameras(inp["K"][i:i + 1], inp["w2c"][i:i + 1], 48, 32)
        img = render(g, cam, backend="torch").rgb
        frame = torch.from_numpy(store.read_video(slice(i, i + 1)).astype(np.float32) / 255.0)
        assert score["psnr_frames"]["per_frame"][i] == pytest.approx(float(psnr(img, frame)[0]), abs=1e-3)
        exact = make_scene("room").render(cam)[0]
        assert score["psnr_exact"]["per_frame"][i] == pytest.approx(float(psnr(img, exact)[0]), abs=1e-3)


def test_export_world_refusals(finished_run, tmp_path):
    """--device or --world-steps without --world do not apply; a fresh run keeps no world: each one line, exit 2,
    nothing written."""
    res = _export(str(finished_run), "--device", "cpu", "--out", str(tmp_path / "a"))
    assert res.returncode == 2 and "--device applies to --world only" in res.stderr, res.stderr
    res = _export(str(finished_run), "--world-steps", "5", "--out", str(tmp_path / "a"))
    assert res.returncode == 2 and "--world-steps applies to --world only" in res.stderr, res.stderr
    res = _export(str(finished_run), "--world", "--out", str(tmp_path / "b"))
    assert res.returncode == 2 and "memory.mode=fresh" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_world_export_benchmark_times_the_export_it_reproduces(world_run, tmp_path):
    """benchmarks/world_export.py (the GPU timing of `export --world` without ffmpeg): the same world.ply and score
    as the export, its phases adding up to what it measured in all; a path that is no store is one line, exit != 0."""
    ref, _ = world_run
    out = tmp_path / "bench"
    res = subprocess.run([str(BIN / "python"), str(ROOT / "benchmarks/world_export.py"), str(ref.path), "--device",
                          "cpu", "--steps", "5", "--out", str(out)], capture_output=True, text=True, env=cli_env(),
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads((out / "world_export.json").read_text())
    score = json.loads((out / "world_score.json").read_text())
    assert got["frames"] == score["cameras"] == ref.read_video().shape[0] and got["refine_steps"] == 5
    assert got["psnr_frames"] == score["psnr_frames"]["mean"] and got["psnr_exact"] == score["psnr_exact"]["mean"]
    assert min(got[k] for k in ("fuse_s", "refine_s", "score_s", "save_s")) >= 0
    assert got["fuse_s"] + got["refine_s"] + got["score_s"] + got["save_s"] == pytest.approx(got["total_s"])
    exported = tmp_path / "x"
    assert _export(str(ref.path), "--world", "--device", "cpu", "--world-steps", "5", "--out",
                   str(exported)).returncode == 0
    assert (exported / "world.ply").read_bytes() == (out / "world.ply").read_bytes()
    bad = subprocess.run([str(BIN / "python"), str(ROOT / "benchmarks/world_export.py"), str(tmp_path / "nope.zarr"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_revisit_holes_splits_a_chunks_holes_by_cause(world_run):
    """benchmarks/revisit_holes.py re-runs each chunk's warp from the store (refusing if its mask is not the stored
    one) and splits the holes into empty and mixed pixels: the fractions are the run's own and add up."""
    from worldwarp.store import RunStore

    ref, _ = world_run
    res = subprocess.run([str(BIN / "python"), str(ROOT / "benchmarks/revisit_holes.py"), str(ref.path)],
                         capture_output=True, text=True, env=cli_env(), timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout)
    assert got["memory"] == "world" and [r["chunk"] for r in got["chunks"]] == [1, 2]
    store = RunStore.open(ref.path)
    for r in got["chunks"]:
        assert r["holes"] == pytest.approx(store.stage_attrs(r["chunk"], "warp")["hole_fraction"], abs=1e-6)
        if r["holes"] > 0:
            assert r["mixed_share"] + r["empty_share"] == pytest.approx(1.0)


def _revisit_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("revisit_bench", ROOT / "benchmarks/revisit.py")
    rv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rv)
    return rv


def test_revisit_split_by_holes_adds_up_and_blames_the_visit_that_filled():
    """The revisit benchmark's split of the difference between two visits: pixel and error shares each add up to 1,
    each class's PSNR is the direct one over its pixels, and a difference made only where the return filled a hole
    is blamed on that class alone."""
    rv = _revisit_bench()
    g = torch.Generator().manual_seed(3)
    video = torch.rand(4, 8, 10, 3, generator=g)
    video[2:] = video[:2].flip(0)  # frames 2, 3 revisit frames 1, 0 exactly ...
    hole = {f: torch.rand(8, 10, generator=g).numpy() < (0.3 if f in (1, 2) else 0) for f in range(4)}
    video[2][torch.from_numpy(hole[2])] += 0.1  # ... except where the return (frame 2) filled a hole
    got = rv.by_holes(video, [(1, 2), (0, 3)], hole.__getitem__)
    assert sum(c["pixel_share"] for c in got.values()) == pytest.approx(1.0)
    assert sum(c["error_share"] for c in got.values()) == pytest.approx(1.0)
    only_return = hole[2] & ~hole[1]
    assert got["return_only"]["pixel_share"] == pytest.approx(only_return.sum() / 160)
    assert got["return_only"]["error_share"] == pytest.approx(only_return.sum() / (hole[2].sum()))
    assert got["both"]["psnr"] == pytest.approx(10 * np.log10(1 / 0.01), abs=1e-3)
    assert got["neither"]["psnr"] is None and got["first_only"]["psnr"] is None  # no difference there


def test_revisit_rescore_reproduces_a_runs_scores_from_its_store(tmp_path):
    """revisit.py rescore scores a finished run again from its store: on a tiny real run whose JSON lost its
    scores it gives back exactly what the run wrote, says when and at which commit, and keeps the run's timings;
    a folder with a run whose store is gone is refused whole (one line, nothing rewritten)."""
    script = str(ROOT / "benchmarks/revisit.py")
    tiny = ["--height", "32", "--width", "48", "--chunks", "2", "--steps", "2", "--out", str(tmp_path)]
    res = subprocess.run([str(BIN / "python"), script, "run", "--mode", "world", *tiny], capture_output=True,
                         text=True, env=cli_env(), timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    (path,) = [p for p in tmp_path.glob("*.json")]
    ran = json.loads(path.read_text())
    assert ran["revisit_pairs"] > 0 and ran["revisit_by_holes"]["all"]["neither"]["pixel_share"] > 0.5
    stripped = {k: v for k, v in ran.items() if k not in ("psnr", "revisit_psnr_mean", "revisit_by_holes", "per_chunk")}
    path.write_text(json.dumps(stripped))
    res = subprocess.run([str(BIN / "python"), script, "rescore", "--out", str(tmp_path)], capture_output=True,
                         text=True, env=cli_env(), timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.loads(path.read_text())
    assert again.pop("rescored")["commit"] and again.pop("score_s") is not None and ran.pop("score_s") is not None
    assert again == ran
    (tmp_path / "gone.json").write_text(json.dumps({**ran, "name": "gone"}))
    before = path.read_text()
    res = subprocess.run([str(BIN / "python"), script, "rescore", "--out", str(tmp_path)], capture_output=True,
                         text=True, env=cli_env(), timeout=600)
    assert res.returncode != 0 and res.stderr.strip().splitlines()[-1].endswith("no store for gone "
                                                                              "(artifacts/runs/<name>.zarr)")
    assert path.read_text() == before


def test_revisit_hole_masks_are_the_runs_own(world_run):
    """The benchmark reads each video frame's hole mask from the chunk that made it: averaged over a chunk's new
    frames they give the hole fraction the warp stage recorded (the input frame has none)."""
    from worldwarp.chunks import chunk_span
    from worldwarp.store import RunStore

    rv = _revisit_bench()
    ref, _ = world_run
    store = RunStore.open(ref.path)
    cfg = load_params(None, OVER)
    masks = rv.HoleMasks(store, cfg)
    assert not masks(0).any()
    for k in range(cfg.chunk.count):
        sp = chunk_span(cfg.chunk, k)
        frames = range(max(sp.new_start, 1), sp.stop)
        got = np.mean([masks(f).mean() for f in frames])
        assert got == pytest.approx(store.stage_attrs(k, "warp")["hole_fraction"], abs=1e-6)


@pytest.mark.parametrize("path", ["identical", "excursion", "pan360", "orbit360"])
def test_revisit_paths_return_to_exactly_the_poses_they_left(path, tmp_path):
    """benchmarks/revisit.py's paths: every frame of the way back has the exact pose of a frame of the way out (the
    revisit pairs), the excursion turns the start view out of the frame before it returns, and orbit360 keeps its
    distance to the point it circles."""
    import argparse

    rv = _revisit_bench()
    a = argparse.Namespace(path=path, preset="forward", distance=1.0, offset=0.05, height=32, width=48, chunks=8,
                           steps=1, scene="room")
    total = 101
    file, overrides, m = rv.camera_file(a, total, tmp_path)
    cfg = load_params(None, [*rv.settings(a), *overrides])
    w2c = rv.make_trajectory(cfg.trajectory, total, 48, 32, rv.start_pose(cfg)).w2c.double().numpy()
    video = torch.rand(total, 32, 48, 3, generator=torch.Generator().manual_seed(0))
    got = rv.revisits(video, np.zeros((total, 3, 3)), w2c, m, total)
    assert got["revisit_pairs"] == total - m
    c = rv._centres(w2c)
    fwd = w2c[:, 2, :3]  # each camera's viewing direction in the world
    if path == "excursion":
        assert np.degrees(np.arccos(np.clip(fwd[:m] @ fwd[0], -1, 1))).max() == pytest.approx(90, abs=0.5)
    if path == "orbit360":
        pivot = c[0] + 3.0 * fwd[0]
        assert np.ptp(np.linalg.norm(c[:m] - pivot, axis=1)) < 1e-5  # float32 poses
        assert np.linalg.norm(c[m // 2] - c[0]) > 5.5  # the far side of the circle
    assert file.is_file()


def test_world_export_voxel_keys_group_exactly_as_the_coordinate_triples():
    """The packed int64 voxel keys (the export's fusion, the world map) keep exactly the points np.unique over
    (x, y, z) voxel triples keeps (the first of each voxel), at several voxel sizes and with negative coordinates."""
    from worldwarp.memory.voxels import voxel_keys

    means = np.random.default_rng(1).normal(size=(50_000, 3)) * [3.0, 0.5, 20.0]
    for voxel in (0.01, 0.1, 1.0):
        triples = np.unique(np.floor(means / voxel).astype(np.int64), axis=0, return_index=True)[1]
        assert np.array_equal(np.sort(np.unique(voxel_keys(means, voxel), return_index=True)[1]), np.sort(triples))


def test_mlflow_memory_metrics_report_the_world_map(world_run):
    """What tracking logs per chunk of a world run: the frames retrieved, the world map's frames searched before the
    chunk and held after it, its bytes; nothing for a chunk without the world memory's attrs."""
    from flows.tracking import memory_metrics
    from worldwarp.store import RunStore

    ref, _ = world_run
    store = RunStore.open(ref.path)
    a1, a2 = (store.stage_attrs(k, "gaussians") for k in (1, 2))
    got = memory_metrics(a2)
    assert got["memory_retrieved"] == len(a2["retrieved"]) and got["memory_candidates"] == len(a1["memory_map"])
    assert got["memory_map_frames"] == len(a2["memory_map"]) and got["memory_map_bytes"] == a2["memory_map_bytes"] > 0
    assert memory_metrics({"count": 10}) == {}
