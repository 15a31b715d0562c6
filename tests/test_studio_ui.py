"""WorldWarp Studio in a real browser: `worldwarp studio` serves the page, Debian's headless Chromium (driven by
playwright, which launches /usr/bin/chromium and downloads no browser) uploads a photo, picks a movement,
generates 2 chunks of the CPU-sized run, rolls one back, generates it again and downloads the mp4."""

import shutil
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import BIN, ROOT, TINY, cli_env, free_port, wait_http

pytestmark = [pytest.mark.slow, pytest.mark.server]
WAIT_MS = 180_000


def _arrays(path: Path) -> dict[str, np.ndarray]:
    from worldwarp.store import RunStore

    store = RunStore.open(path)
    out = {"video": store.read_video()}
    for k in store.chunks():
        for stage in store.stages(k):
            out.update({f"{k}/{stage}/{n}": np.asarray(a) for n, a in store.read_stage(k, stage).items()})
    return out


@pytest.fixture
def studio(tmp_path):
    port = free_port()
    # the photo's depth is a choice the user makes (no depth model here: the constant plane, said explicitly)
    sets = [*TINY, f"artifacts={tmp_path / 'artifacts'}", "tracking.mlflow=false", "scene.depth_estimator=constant"]
    log = open(tmp_path / "studio.log", "w")
    proc = subprocess.Popen([str(BIN / "worldwarp"), "studio", "--port", str(port), *[a for o in sets for a in ("--set", o)]],
                            env=cli_env(HOME=str(tmp_path), GRADIO_TEMP_DIR=str(tmp_path / "gradio")), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield f"http://127.0.0.1:{port}/", tmp_path / "artifacts"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _status(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text, timeout=WAIT_MS)


def _videos(page, n: int) -> None:
    page.wait_for_function("n => document.querySelectorAll('#chunk-videos video').length === n", arg=n, timeout=WAIT_MS)


def test_generate_roll_back_generate_download_in_chromium(studio, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is required (make test installs it)"
    url, artifacts = studio
    import skimage.data

    photo = tmp_path / "photo.png"
    iio.imwrite(photo, skimage.data.astronaut()[::2, ::2])
    outside = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = ctx.new_page()
        page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
        page.goto(url)
        page.wait_for_selector("#generate")
        assert "diffusion classical" in page.inner_text("body")  # the configured backends are shown
        page.set_input_files("#photo input[type=file]", str(photo))
        page.wait_for_selector("#photo-view img")  # checked and shown as the run will use it
        page.locator("#movement input").fill("PAN_RIGHT")
        page.keyboard.press("Enter")
        page.wait_for_selector("#trajectory img", timeout=WAIT_MS)  # the preview comes before any generation
        page.locator("#per-click input[type=number]").fill("2")
        page.locator("#per-click input[type=number]").press("Enter")
        page.click("#generate")
        _status(page, "Generated up to chunk 1")
        _videos(page, 2)
        assert page.locator("#contact-sheets img").count() == 2
        info = page.inner_text("#run-info")
        assert "2/3 chunks" in info
        store = Path(info.split(" at ")[1].split(":")[0].strip())
        before = _arrays(store)
        assert sorted({k.split("/")[0] for k in before if k != "video"}) == ["0", "1"]

        # a second tab is a second session: it has no run, and its bad input is one line on its own page
        other = ctx.new_page()
        other.goto(url)
        other.wait_for_selector("#generate")
        assert "No run yet" in other.inner_text("#run-info")
        junk = tmp_path / "junk.png"
        junk.write_text("not an image")
        other.set_input_files("#photo input[type=file]", str(junk))
        other.wait_for_function("document.querySelector('#status').innerText.includes('not a readable image')",
                                timeout=WAIT_MS)
        assert "Traceback" not in other.inner_text("body")  # what a person sees: one line, no stack trace
        other.locator("#movement input").fill("WIGGLE_SIDEWAYS")
        other.keyboard.press("Enter")
        other.wait_for_function("document.querySelector('#status').innerText.includes('WIGGLE')", timeout=WAIT_MS)
        errors = [ln for ln in other.inner_text("#status").splitlines() if "Error" in ln]
        assert len(errors) == 1 and "Traceback" not in other.inner_text("body"), errors
        assert not list((artifacts / "runs").glob("*.zarr"))[1:]  # bad input wrote no store (only the first tab's)
        other.close()

        page.click("#rollback")
        _status(page, "Rolled back chunk 1")
        _videos(page, 1)
        assert "1/3 chunks" in page.inner_text("#run-info")
        page.locator("#per-click input[type=number]").fill("1")
        page.locator("#per-click input[type=number]").press("Enter")
        page.click("#generate")
        _status(page, "Generated up to chunk 1")
        _videos(page, 2)
        after = _arrays(store)
        assert sorted(after) == sorted(before)
        for name, a in before.items():  # the same frames as before, bit for bit
            assert a.dtype == after[name].dtype and np.array_equal(a, after[name], equal_nan=True), name

        page.click("#downloads-btn")
        _status(page, "Downloads ready")
        link = page.locator("#downloads a[download$='.mp4']").first
        with page.expect_download() as dl:
            link.click()
        mp4 = tmp_path / "got.mp4"
        dl.value.save_as(mp4)
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    frames = iio.imread(mp4)
    assert frames.shape == before["video"].shape  # every generated frame, at the run's size
    assert np.abs(frames.astype(float) - before["video"]).mean() < 12  # lossy, but the same pictures
    assert outside == []  # nothing fetched from the internet
    img = iio.imread(shot)
    assert len(np.unique(img.reshape(-1, img.shape[-1])[:, :3], axis=0)) > 500  # a real render, not a blank page

