"""The Blender export run through Blender itself (`blender -b`): camera keys, lens and principal point,
points and colours, frame range, and nothing else in the scene touched. Skipped where Blender is absent
(Debian/Ubuntu: `apt-get install blender`, about 30 s; see docs/EXPORTS.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from test_exports_formats import FRAMES, H, W, finished_store
from worldwarp.export import export_all

BLENDER = shutil.which("blender")
pytestmark = pytest.mark.skipif(BLENDER is None, reason="Blender is not installed (apt-get install blender)")

# runs inside Blender after import_blender.py: dumps what the scene now holds
PROBE = '''
import json, sys, bpy
from bpy_extras.object_utils import world_to_camera_view
scene = bpy.context.scene
cam = bpy.data.objects["WorldWarp"]
pts = bpy.data.objects["WorldWarp points"]
frames = []
for f in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(f)
    uv = [tuple(world_to_camera_view(scene, cam, v.co))[:2] for v in pts.data.vertices[:50]]
    frames.append({"matrix": [list(r) for r in cam.matrix_world], "lens": cam.data.lens, "uv": uv})
col = pts.data.attributes["Col"].data
out = {"frames": frames, "points": [list(v.co) for v in pts.data.vertices],
       "colours": [list(c.color) for c in col], "objects": sorted(o.name for o in scene.objects),
       "cameras": sorted(o.name for o in scene.objects if o.type == "CAMERA"), "active": scene.camera.name,
       "range": [scene.frame_start, scene.frame_end], "res": [scene.render.resolution_x, scene.render.resolution_y]}
json.dump(out, open(sys.argv[sys.argv.index("--probe") + 1], "w"))
'''


def run_blender(out: Path, tmp: Path, *args: str) -> tuple[dict, dict, str]:
    probe = tmp / "probe.py"
    probe.write_text(PROBE)
    cmd = [BLENDER, "-b", "--factory-startup", "--python", str(out / "import_blender.py"), "--python", str(probe),
           "--", "--report", str(tmp / "report.json"), "--probe", str(tmp / "probe.json"), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp)
    assert res.returncode == 0 and "Traceback" not in res.stdout + res.stderr, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads((tmp / "report.json").read_text()), json.loads((tmp / "probe.json").read_text()), res.stdout


def test_blender_imports_the_camera_path_and_point_cloud(tmp_path):
    store = finished_store(tmp_path / "runs")
    out = tmp_path / "export"
    export_all(store, out)
    report, scene, stdout = run_blender(out, tmp_path, "--every", "5")
    print(stdout.splitlines()[0] if stdout else "", f"-> {report}")
    assert "WorldWarp import: " in stdout
    assert (report["camera_keyframes"], report["frame_start"], report["frame_end"]) == (FRAMES, 1, FRAMES)
    assert scene["range"] == [1, FRAMES] and scene["res"] == [W, H] and scene["active"] == "WorldWarp"
    assert report["still_cameras"] == len(range(0, FRAMES, 5))
    assert report["background"].endswith("frame_00000.png")
    # the factory scene keeps its own objects; ours are added beside them
    stills = [f"WorldWarp frame {i + 1:04d}" for i in range(0, FRAMES, 5)]
    assert scene["objects"] == sorted(["Camera", "Cube", "Light", "WorldWarp", "WorldWarp points", *stills])

    v = PlyData.read(str(out / "gaussians.ply"))["vertex"]
    xyz = np.stack([v["x"], v["y"], v["z"]], 1)
    assert report["points"] == len(xyz) == len(scene["points"])
    np.testing.assert_allclose(scene["points"], xyz, rtol=0, atol=1e-6)
    dc = np.stack([v[f"f_dc_{c}"] for c in range(3)], 1)
    np.testing.assert_allclose(np.asarray(scene["colours"])[:, :3], np.clip(0.5 + 0.28209479177387814 * dc, 0, 1),
                               atol=1e-6)

    doc = json.loads((out / "transforms.json").read_text())
    inp = store.read_input()
    K, w2c = np.asarray(inp["K"]), np.asarray(inp["w2c"])
    for i, (fr, got) in enumerate(zip(doc["frames"], scene["frames"])):
        np.testing.assert_allclose(got["matrix"], fr["transform_matrix"], atol=1e-5)
        assert got["lens"] == pytest.approx(fr["fl_x"] / W * 36.0, rel=1e-5)
        # Blender's own projection of the points lands on the pixels our OpenCV K, w2c give them
        cam = xyz[:50] @ w2c[i, :3, :3].T + w2c[i, :3, 3]
        px = cam @ K[i].T
        px = px[:, :2] / px[:, 2:]
        uv = np.asarray(got["uv"])
        blender_px = np.stack([uv[:, 0] * W, (1 - uv[:, 1]) * H], 1)
        np.testing.assert_allclose(blender_px, px, atol=1e-3)
