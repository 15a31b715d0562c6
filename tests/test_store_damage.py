"""Every kind of damage to a finished run's store, through the real CLI (in-process): `verify` exits 2 naming the
damaged path, `inspect` shows it, `export` refuses in one line that says to resume, and `resume` heals it to the
very store an undamaged run has (docs/STORE.md). Each test damages a copy of one finished run per session."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import assert_same_run
from flows.cli import app
from worldwarp.store import RunStore
from worldwarp.store.integrity import SEAL


def _cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def _copy(finished_run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "runs" / "x.zarr"
    dest.parent.mkdir(parents=True)
    shutil.copytree(finished_run, dest)
    return dest


def _garble(p: Path) -> None:
    """Same length, the middle overwritten: no longer JSON."""
    b = bytearray(p.read_bytes())
    b[len(b) // 3: len(b) // 3 + 8] = b"\x00garble\x01"
    p.write_bytes(bytes(b))


def _edit(p: Path) -> None:
    """Still valid JSON, one attribute changed: only the seal tells."""
    doc = json.loads(p.read_text())
    a = doc["attributes"]
    key = next(k for k in ("history", "frames", "updated_at") if k in a)
    a[key] = a[key] + 1 if isinstance(a[key], int) else a[key] + "x"
    p.write_text(json.dumps(doc))


def _rm(p: Path) -> None:
    shutil.rmtree(p) if p.is_dir() else p.unlink()


def _add(p: Path) -> None:
    p.write_bytes(b"not written by a run")


def _rows(table: str) -> dict[tuple[int, str], str]:
    """inspect's table: (chunk, stage) -> status."""
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[0].isdigit():
            out[(int(cells[0]), cells[1])] = cells[2]
    return out


# (name, what to damage under the store, how, the damaged path verify must name)
KINDS = [
    ("chunk group deleted", "chunks/1", _rm, "chunks/1/geometry"),
    ("array deleted", "chunks/1/gaussians/means", _rm, "chunks/1/gaussians"),
    ("array zarr.json deleted", "chunks/1/gaussians/means/zarr.json", _rm, "chunks/1/gaussians"),
    ("array zarr.json garbled", "chunks/1/gaussians/means/zarr.json", _garble, "chunks/1/gaussians"),
    ("stage zarr.json deleted", "chunks/1/warp/zarr.json", _rm, "chunks/1/warp"),
    ("stage zarr.json garbled", "chunks/1/warp/zarr.json", _garble, "chunks/1/warp"),
    ("stage zarr.json edited", "chunks/1/warp/zarr.json", _edit, "chunks/1/warp"),
    ("chunk zarr.json deleted", "chunks/1/zarr.json", _rm, "chunks/1"),
    ("chunk zarr.json garbled", "chunks/1/zarr.json", _garble, "chunks/1"),
    ("chunks zarr.json deleted", "chunks/zarr.json", _rm, "chunks"),
    ("video zarr.json deleted", "video/zarr.json", _rm, "video"),
    ("video zarr.json garbled", "video/zarr.json", _garble, "video"),
    ("root zarr.json edited", "zarr.json", _edit, "zarr.json"),
    ("unknown file at the root", "notes.txt", _add, "notes.txt"),
    ("unknown file in a chunk", "chunks/0/stray.bin", _add, "chunks/0/stray.bin"),
    ("unknown file in the video view", "video/rgb", _add, "video/rgb"),
]


@pytest.mark.parametrize("kind", KINDS, ids=[k[0] for k in KINDS])
def test_damage_is_named_shown_and_refused(finished_run, tmp_path, kind):
    _, where, damage, named = kind
    path = _copy(finished_run, tmp_path)
    damage(path / where)

    res = _cli("verify", path)
    assert res.exit_code == 2, res.output
    listed = [ln.split(": ", 1)[0] for ln in res.stdout.splitlines()]
    assert named in listed, res.stdout
    assert res.stderr.startswith(f"error: {path}: damaged ({named}") and "worldwarp resume" in res.stderr, res.stderr

    shown = _cli("inspect", path)
    assert shown.exit_code == 0 and f"{named}: damaged (" in shown.stdout, shown.output
    rows = _rows(shown.stdout)
    # a damaged group (or every group of a damaged chunk node, of a deleted chunk) is never shown complete
    hit = {kg for kg in rows if named in (f"chunks/{kg[0]}/{kg[1]}", f"chunks/{kg[0]}", "chunks")}
    if where == "chunks/1":
        hit = {kg for kg in rows if kg[0] == 1}
        assert {st for kg, st in rows.items() if kg in hit} == {"missing"} and len(hit) == 5, shown.stdout
    assert all(rows[kg] in ("damaged", "missing") for kg in hit), shown.stdout
    assert all(st == "complete" for kg, st in rows.items() if kg not in hit), shown.stdout  # the rest still is
    assert len(rows) == 16, shown.stdout

    out = tmp_path / "export"
    refused = _cli("export", path, "--out", out)
    lines = refused.stderr.strip().splitlines()
    assert refused.exit_code == 2 and len(lines) == 1, refused.output
    assert named in lines[0] and "worldwarp resume" in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("how", [_rm, _garble], ids=["deleted", "garbled"])
def test_a_damaged_root_is_refused_by_every_command(finished_run, tmp_path, how):
    """The root holds the run's params: no command reads a store without it, each says which file it is."""
    path = _copy(finished_run, tmp_path)
    how(path / "zarr.json")
    for args in (["verify", path], ["inspect", path], ["export", path, "--out", tmp_path / "out"], ["resume", path]):
        res = _cli(*args)
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and f"{path / 'zarr.json'}: " in lines[0], (args, res.output)
    assert not (tmp_path / "out").exists()


def _healed(finished_run: Path, path: Path, recomputed: set[tuple[int, str]]) -> None:
    """``resume`` healed ``path``: intact, complete, the reference run's arrays and video bit for bit, and
    only the groups in ``recomputed`` written again."""
    ref, s = RunStore.open(finished_run), RunStore.open(path)
    before = {(k, g): ref.stage_status(k, g).finished_at for k in ref.chunks() for g in ref.stages(k)}
    res = _cli("resume", path)
    assert res.exit_code == 0, res.output
    check = _cli("verify", path)
    assert check.exit_code == 0 and "intact" in check.stdout, check.output
    assert s.status == "complete"
    assert_same_run(ref, s)
    again = {kg for kg, t in before.items() if s.stage_status(*kg).finished_at != t}
    assert again == recomputed, sorted(again)


@pytest.mark.slow
def test_resume_heals_every_kind_of_damage_to_the_same_run(finished_run, tmp_path, caplog):
    """One resume for all of them (what recomputes is bounded to chunk 1's last stages and chunk 2): a deleted
    chunk group, a garbled stage zarr.json, a deleted array are recomputed; plain nodes, strays, the video view and
    the root's seal are mended without recomputing anything else."""
    path = _copy(finished_run, tmp_path)
    shutil.rmtree(path / "chunks/2")
    _garble(path / "chunks/1/handoff/zarr.json")
    shutil.rmtree(path / "chunks/1/frames/rgb")
    for where, how in [("chunks/1/zarr.json", _garble), ("chunks/zarr.json", _rm), ("video/zarr.json", _garble),
                       ("zarr.json", _edit), ("notes.txt", _add), ("chunks/0/stray.bin", _add)]:
        how(path / where)
    # chunk 1's render went when chunk 2 finished: denoising chunk 1 again renders it again (stages/warp.py), and it
    # goes again once chunk 2 is done, as in the first run
    redo = {(1, "warp"), (1, "frames"), (1, "handoff"),
            *((2, s) for s in ("geometry", "gaussians", "warp", "render", "frames", "handoff"))}
    _healed(finished_run, path, redo)
    said = caplog.text
    for rel in ("chunks/2/geometry", "chunks/1/handoff", "chunks/1/frames"):
        assert f"{rel} is damaged" in said and "recomputing it" in said, said
    for rel in ("chunks/1", "chunks", "notes.txt", "chunks/0/stray.bin", "zarr.json"):
        assert f"{rel} is damaged" in said, said
    assert not (path / "notes.txt").exists() and not (path / "chunks/0/stray.bin").exists()


def _as_before_plans(path: Path) -> None:
    """What a store written before plans and seals holds: the same tree without those two records."""
    for meta in path.rglob("zarr.json"):
        doc = json.loads(meta.read_text())
        a = doc.get("attributes") or {}
        if SEAL in a or "plan" in a:
            a.pop(SEAL, None)
            a.pop("plan", None)
            meta.write_text(json.dumps(doc))


def test_a_store_from_before_plans_says_what_it_cannot_check(finished_run, tmp_path):
    path = _copy(finished_run, tmp_path)
    _as_before_plans(path)
    res = _cli("verify", path)
    assert res.exit_code == 0 and "intact" in res.stdout, res.output
    assert "not checked: no plan recorded" in res.stdout and "carry no seal" in res.stdout, res.stdout
    # what it can check, it still does: a stray, a garbled chunk node
    (path / "notes.txt").write_text("x")
    _garble(path / "chunks/1/zarr.json")
    res = _cli("verify", path)
    assert res.exit_code == 2 and "notes.txt: not part" in res.stdout and "chunks/1: zarr.json is unreadable" in res.stdout
    # resume mends it and records the plan and seals from then on: a chunk group deleted later is found
    _healed(finished_run, path, set())
    res = _cli("verify", path)
    assert "no plan recorded" not in res.stdout and "carry no seal" in res.stdout, res.stdout  # groups as they were
    shutil.rmtree(path / "chunks/2")
    assert _cli("verify", path).exit_code == 2


def _shared(finished_run: Path, tmp_path: Path):
    """The finished run's shared copy, as a finished run with ``remote.url`` leaves it (in fsspec's memory://)."""
    from worldwarp.store.remote import RemoteStore

    url = f"memory://damage-{tmp_path.name}/runs/ref.zarr"
    remote, src = RemoteStore(url), _copy(finished_run, tmp_path)
    for rel in ("", "chunks", *(f"chunks/{k}" for k in range(3))):
        remote.push_meta(src, rel)
    for rel in RunStore.open(src).groups():
        remote.push_group(src, rel)
    remote.push_group(src, "video", marked=False)
    assert _cli("verify", url).exit_code == 0
    return url, remote


def test_a_shared_copy_is_checked_and_healed_the_same_way(finished_run, tmp_path, monkeypatch):
    """A store read from shared storage: groups whose marks are gone or garbled there are missing here, by the
    plan the root carries; a garbled video and files outside every node there are named here too. `resume <url>`
    heals the shared copy: the groups recompute, the video is rebuilt, the strays go."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # this machine's working copy
    url, remote = _shared(finished_run, tmp_path)
    remote.fs.rm_file(f"{remote.root}/chunks/2/frames/zarr.json")
    remote.fs.pipe_file(f"{remote.root}/chunks/2/warp/zarr.json", b"{garbled")
    remote.fs.pipe_file(f"{remote.root}/video/zarr.json", b"{garbled")
    remote.fs.pipe_file(f"{remote.root}/notes.txt", b"x")
    remote.fs.pipe_file(f"{remote.root}/chunks/0/stray.bin", b"x")
    res = _cli("verify", url)
    listed = [ln.split(": ", 1)[0] for ln in res.stdout.splitlines()]
    want = {"chunks/2/frames", "chunks/2/warp", "video", "notes.txt", "chunks/0/stray.bin"}
    assert res.exit_code == 2 and want <= set(listed), res.output
    assert res.stderr.startswith(f"error: {url}: damaged") and f"worldwarp resume {url}" in res.stderr
    refused = _cli("export", url, "--out", tmp_path / "out")
    assert refused.exit_code == 2 and url in refused.stderr and not (tmp_path / "out").exists()

    healed = _cli("resume", url)
    assert healed.exit_code == 0, healed.output
    assert _cli("verify", url).exit_code == 0 and remote.strays() == []
    from worldwarp.store.remote import pull_store

    pull_store(url, tmp_path / "pulled" / "ref.zarr")
    assert_same_run(RunStore.open(finished_run), RunStore.open(tmp_path / "pulled" / "ref.zarr"))
