"""Import a WorldWarp export into Blender (written for 3.x and 4.x; uses only the bpy data API, no importers).

Run from the export folder's parent or anywhere:
    blender -b --python import_blender.py                       # headless, then save or render
    blender --python import_blender.py -- --every 10            # also a still camera every 10 frames
    blender -b --python import_blender.py -- --report out.json  # also write what was done as JSON
or open it in Blender's Text Editor and press Run Script (it finds its files beside itself).

Adds one collection "WorldWarp" holding: the camera "WorldWarp", animated with one keyframe per video frame
(pose, focal length, principal point), with the frames as its background image sequence; optionally still
cameras "WorldWarp frame NNNN" every N frames; and the mesh "WorldWarp points", the Gaussian centres of
gaussians.ply as loose vertices with their colour in the point attribute "Col". Sets the scene's resolution,
frame range, frame rate and active camera; nothing else in the scene is touched.
This file is copied into each export by `worldwarp export`. Blender runs it as __main__; imported elsewhere
(the project's own module walk) it only defines functions, so bpy is imported below, not at the top.
"""

import json
import math
import os
import struct
import sys

SH_C0 = 0.28209479177387814  # 3DGS colour = 0.5 + SH_C0 * f_dc
PLY_TYPES = {"float": "f", "float32": "f", "double": "d", "float64": "d", "uchar": "B", "uint8": "B",
             "char": "b", "int8": "b", "short": "h", "int16": "h", "ushort": "H", "uint16": "H",
             "int": "i", "int32": "i", "uint": "I", "uint32": "I"}
WANTED = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "red", "green", "blue", "opacity")


def here() -> str:
    """The folder this script lies in, whether run with --python or from the Text Editor."""
    path = globals().get("__file__") or ""
    if not os.path.isfile(path):
        text = next((t for t in bpy.data.texts if t.filepath and t.name.endswith(".py")), None)
        path = bpy.path.abspath(text.filepath) if text else path
    return os.path.dirname(os.path.abspath(path))


def options() -> dict:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    opts = {"every": 0, "report": None}
    for flag, key, cast in (("--every", "every", int), ("--report", "report", str)):
        if flag in argv:
            opts[key] = cast(argv[argv.index(flag) + 1])
    return opts


def read_ply_vertices(path: str) -> dict:
    """The vertex columns Blender needs (of WANTED) from a binary little-endian PLY, as lists.
    Plain struct, no numpy: Debian's Blender runs on the system Python, which may lack it."""
    with open(path, "rb") as f:
        blob = f.read()
    end = blob.index(b"end_header\n") + len(b"end_header\n")
    names, codes, count, in_vertex, fmt = [], "", 0, False, ""
    for line in blob[:end].decode("ascii").splitlines():
        words = line.split()
        if words[:1] == ["format"]:
            fmt = words[1]
        elif words[:1] == ["element"]:
            if not in_vertex and names:
                break  # the vertex element is over
            in_vertex = words[1] == "vertex"
            if not in_vertex:
                raise ValueError(f"{path}: elements before 'vertex' are not supported")
            count = int(words[2])
        elif words[:1] == ["property"] and in_vertex:
            names.append(words[-1])
            codes += PLY_TYPES[words[1]]
    if fmt != "binary_little_endian":
        raise ValueError(f"{path}: PLY format {fmt!r}, expected binary_little_endian")
    row = struct.Struct("<" + codes)
    keep = [(n, i) for i, n in enumerate(names) if n in WANTED]
    cols = {n: [] for n, _ in keep}
    for values in row.iter_unpack(blob[end:end + row.size * count]):
        for n, i in keep:
            cols[n].append(values[i])
    return cols


def point_colours(v: dict, n: int) -> list:
    """Flat RGBA in 0..1: 3DGS DC colour and opacity if present, else 8-bit red/green/blue, else grey."""
    if "f_dc_0" in v:
        rgb = [[min(max(0.5 + SH_C0 * d, 0.0), 1.0) for d in v[f"f_dc_{c}"]] for c in range(3)]
    elif "red" in v:
        rgb = [[c / 255.0 for c in v[k]] for k in ("red", "green", "blue")]
    else:
        rgb = [[0.8] * n] * 3
    alpha = [1.0 / (1.0 + math.exp(-min(max(o, -60.0), 60.0))) for o in v["opacity"]] if "opacity" in v else [1.0] * n
    return [c for px in zip(*rgb, alpha) for c in px]


def add_points(path: str, collection) -> int:
    v = read_ply_vertices(path)
    n = len(v["x"])
    mesh = bpy.data.meshes.new("WorldWarp points")
    mesh.vertices.add(n)
    mesh.vertices.foreach_set("co", [c for p in zip(v["x"], v["y"], v["z"]) for c in p])
    col = mesh.attributes.new("Col", "FLOAT_COLOR", "POINT")
    col.data.foreach_set("color", point_colours(v, n))
    mesh.update()
    collection.objects.link(bpy.data.objects.new("WorldWarp points", mesh))
    return n


def set_intrinsics(cam_data, frame: dict, w: int, h: int) -> None:
    # horizontal sensor fit: lens and both shifts are in units of the image width
    cam_data.lens = frame["fl_x"] / w * cam_data.sensor_width
    cam_data.shift_x = (w / 2 - frame["cx"]) / w
    cam_data.shift_y = (frame["cy"] - h / 2) / w


def new_camera(name: str, collection):
    data = bpy.data.cameras.new(name)
    data.sensor_fit, data.sensor_width = "HORIZONTAL", 36.0
    obj = bpy.data.objects.new(name, data)
    obj.rotation_mode = "QUATERNION"  # quaternions interpolate without euler flips
    collection.objects.link(obj)
    return obj


def set_pose(obj, frame: dict, previous=None):
    # transforms.json holds OpenGL camera-to-world, which is Blender's camera convention too
    loc, rot, _ = mathutils.Matrix(frame["transform_matrix"]).decompose()
    if previous is not None and rot.dot(previous) < 0:
        rot.negate()  # the same rotation, on the short path from the previous key
    obj.location, obj.rotation_quaternion = loc, rot
    return rot


def add_background(cam_data, image_dir: str, n: int) -> str:
    first = os.path.join(image_dir, "frame_00000.png")
    if not os.path.isfile(first):
        return "none (no images/frame_00000.png)"
    img = bpy.data.images.load(first, check_existing=True)
    img.source = "SEQUENCE"
    bg = cam_data.background_images.new()
    bg.image = img
    bg.image_user.frame_start, bg.image_user.frame_duration = 1, n
    bg.image_user.use_auto_refresh = True
    cam_data.show_background_images = True
    return first


def keyed_frames(obj) -> set:
    anim = obj.animation_data
    fcurves = getattr(anim.action, "fcurves", None)
    if fcurves is None:  # Blender 5 layered actions: the curves live in the slot's channel bag
        from bpy_extras import anim_utils
        fcurves = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot).fcurves
    return {int(k.co[0]) for fc in fcurves for k in fc.keyframe_points}


def main() -> dict:
    root, opts = here(), options()
    doc = json.load(open(os.path.join(root, "transforms.json")))
    w, h, frames = doc["w"], doc["h"], doc["frames"]
    scene = bpy.context.scene
    collection = bpy.data.collections.new("WorldWarp")
    scene.collection.children.link(collection)
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = w, h, 100
    scene.frame_start, scene.frame_end = 1, len(frames)
    scene.render.fps, scene.render.fps_base = int(doc.get("fps", 16)), 1.0
    cam = new_camera("WorldWarp", collection)
    rot = None
    for i, fr in enumerate(frames):
        rot = set_pose(cam, fr, rot)
        set_intrinsics(cam.data, fr, w, h)
        for path in ("location", "rotation_quaternion"):
            cam.keyframe_insert(path, frame=i + 1)
        for path in ("lens", "shift_x", "shift_y"):
            cam.data.keyframe_insert(path, frame=i + 1)
    scene.camera = cam
    stills = []
    for i in (range(0, len(frames), opts["every"]) if opts["every"] > 0 else ()):
        still = new_camera(f"WorldWarp frame {i + 1:04d}", collection)
        set_pose(still, frames[i])
        set_intrinsics(still.data, frames[i], w, h)
        stills.append(still.name)
    try:
        background = add_background(cam.data, os.path.join(root, "images"), len(frames))
    except (RuntimeError, AttributeError) as e:  # older/newer API or unreadable image: the rest still stands
        background = f"none ({e})"
    ply = os.path.join(root, "gaussians.ply")
    points = add_points(ply, collection) if os.path.isfile(ply) else 0
    keys = len(keyed_frames(cam))
    return {"blender": bpy.app.version_string, "camera": cam.name, "camera_keyframes": keys,
            "lens_mm_first": frames and frames[0]["fl_x"] / w * 36.0, "still_cameras": len(stills),
            "points": points, "point_colour_attribute": "Col" if points else None, "background": background,
            "frame_start": scene.frame_start, "frame_end": scene.frame_end,
            "resolution": [scene.render.resolution_x, scene.render.resolution_y], "fps": scene.render.fps,
            "report": opts["report"]}


if __name__ == "__main__":
    import bpy
    import mathutils

    report = main()
    print("WorldWarp import: " + json.dumps(report))
    if report["report"]:
        with open(report["report"], "w") as f:
            json.dump(report, f, indent=1)
