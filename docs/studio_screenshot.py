"""Make docs/studio.png from a real run: start `worldwarp studio` (the CPU demo settings, garden scene), drive it
in Debian's headless Chromium, generate 2 chunks and screenshot the page.

    .venv/bin/python docs/studio_screenshot.py [--out docs/studio.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _serve(port: int, artifacts: Path) -> subprocess.Popen:
    cmd = [str(Path(sys.executable).parent / "worldwarp"), "studio", "--port", str(port),
           "--set", f"artifacts={artifacts}", "--set", "scene.name=garden", "--set", "tracking.mlflow=false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise TimeoutError("the studio did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "studio.png")
    ap.add_argument("--port", type=int, default=7861)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        proc = _serve(args.port, Path(d) / "artifacts")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{args.port}/")
                page.wait_for_selector("#generate")
                page.locator("#movement input").fill("DOLLY_IN; ORBIT_LEFT")
                page.keyboard.press("Enter")
                page.wait_for_selector("#trajectory img", timeout=120_000)
                page.locator("#per-click input[type=number]").fill("2")
                page.locator("#per-click input[type=number]").press("Enter")
                page.click("#generate")
                page.wait_for_function("document.querySelectorAll('#chunk-videos video').length === 2", timeout=600_000)
                time.sleep(2)  # let the galleries load their media
                page.screenshot(path=str(args.out), full_page=True)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(args.out)


if __name__ == "__main__":
    main()
