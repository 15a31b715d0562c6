"""All-or-nothing stage writes: a writer that dies at any point never leaves a stage taken as done."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from worldwarp.store import RunStore, StoreError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    return RunStore.create(tmp_path, "r", params={}, input_digest="d", code_version="v")


def arrays(seed=0, n=5):
    rng = np.random.default_rng(seed)
    return {f"a{i}": rng.random((n, 16, 16), dtype=np.float32) for i in range(4)}


class Exploding(dict):
    """Yields two arrays, then fails as a crash in the middle of a stage write would."""

    def items(self):
        for i, item in enumerate(super().items()):
            if i == 2:
                raise RuntimeError("writer died")
            yield item


def hidden(store, k=0):
    d = store.path / "chunks" / str(k)
    return sorted(p.name for p in d.iterdir() if p.name.startswith(".")) if d.is_dir() else []


def test_failed_first_write_leaves_nothing_and_a_retry_succeeds(store, monkeypatch):
    import worldwarp.store.groups as groups

    def bad_kwargs(a, calls=[]):  # noqa: B006 - counts calls across the write
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("writer died")
        return real(a)

    real = groups.array_kwargs
    monkeypatch.setattr(groups, "array_kwargs", bad_kwargs)
    with pytest.raises(RuntimeError):
        store.write_stage(0, "warp", "k1", arrays(), {})
    monkeypatch.setattr(groups, "array_kwargs", real)
    st = store.stage_status(0, "warp")
    assert not st.exists and not st.complete and not store.is_complete(0, "warp", "k1")
    assert hidden(store) == []  # an in-process failure cleans its temporary group
    store.write_stage(0, "warp", "k1", arrays(), {})
    assert store.is_complete(0, "warp", "k1")


def test_failed_rewrite_keeps_the_old_complete_result(store):
    old = arrays(seed=1)
    store.write_stage(0, "warp", "k-old", old, {})
    with pytest.raises(RuntimeError):
        store.write_stage(0, "warp", "k-new", Exploding(arrays(seed=2)), {})
    assert store.is_complete(0, "warp", "k-old") and not store.is_complete(0, "warp", "k-new")
    np.testing.assert_array_equal(store.read_stage(0, "warp")["a3"], old["a3"])


KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import worldwarp.store.atomic as atomic
    import worldwarp.store.groups as groups
    from worldwarp.store import RunStore

    path, where = sys.argv[1], sys.argv[2]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if where == "mid-arrays":
        real, calls = groups.array_kwargs, []
        def kwargs(a):
            calls.append(1)
            if len(calls) == 3:
                die()
            return real(a)
        groups.array_kwargs = kwargs
    elif where == "before-publish":
        groups.publish = die
    elif where == "mid-publish":  # old group moved to trash, new one not yet in place
        real_rename = os.rename
        def rename(src, dst):
            real_rename(src, dst)
            if atomic.TRASH in str(dst):
                die()
        atomic.os.rename = rename
    rng = np.random.default_rng(7)
    RunStore.open(path).write_stage(0, "warp", "k-new", {f"a{i}": rng.random((49, 64, 64), dtype=np.float32)
                                                        for i in range(4)}, {})
    print("not killed")
""")


@pytest.mark.parametrize("where", ["mid-arrays", "before-publish", "mid-publish"])
def test_sigkill_at_any_point_never_shows_a_complete_new_stage(store, where):
    store.write_stage(0, "warp", "k-old", arrays(seed=1), {})
    proc = subprocess.run([sys.executable, "-c", KILLER, str(store.path), where], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert not store.is_complete(0, "warp", "k-new")
    if where == "mid-publish":
        assert not store.stage_status(0, "warp").exists  # the name is missing: "not done", never half done
    else:
        assert store.is_complete(0, "warp", "k-old")  # the old result is untouched
    assert hidden(store), "the killed writer should have left its temporary directory behind"
    # the leftovers of a dead writer are collected; a later write succeeds
    assert store.collect_garbage() >= 1 and hidden(store) == []
    new = arrays(seed=3)
    store.write_stage(0, "warp", "k-new", new, {})
    assert store.is_complete(0, "warp", "k-new")
    np.testing.assert_array_equal(store.read_stage(0, "warp", key="k-new")["a0"], new["a0"])


def test_a_live_writers_temporary_group_is_not_collected(store):
    tmp = store.path / "chunks" / "0" / f".warp.tmp-{os.getpid()}-abc"
    tmp.mkdir(parents=True)
    assert store.collect_garbage() == 0 and tmp.exists()
    assert store.collect_garbage(older_than_s=-1) == 1 and not tmp.exists()


def test_a_temporary_group_never_counts_as_a_stage(store):
    store.write_stage(0, "warp", "k", arrays(), {})
    d = store.path / "chunks" / "0"
    (d / ".frames.tmp-1-x").mkdir()
    assert store.stages(0) == ["warp"]
    with pytest.raises(StoreError):
        store.read_stage(0, "frames")
