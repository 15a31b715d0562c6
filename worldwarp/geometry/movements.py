"""Named camera movements (the authors' 34, with their magnitudes), "A + B" combinations, one movement per chunk.

Everything here is in the FIRST camera's frame, OpenCV convention (x right, y down, z forward; "up" is -y).
A movement is a ``Motion``: per-chunk rotations eased in and out, per-frame rotation rates and per-frame
translations in the current camera's frame, and an orbit rate about a pivot ahead of the camera.

Facts taken from the authors' public code (qbhan/WorldWarp@0396b80, pose_control.py), mapped to our frame:
- their poses are camera-to-world in the same OpenCV camera frame, starting at the identity, so their world is our
  first camera's frame. Their Euler fields rotate about the camera axes: ``roll`` about x (= tilt, + is up),
  ``pitch`` about y (= pan, + is right), ``yaw`` about z (= roll, + turns the camera's x toward its y, i.e. the
  right side dips; they call that ROLL_LEFT). The orientation is R = Rx(tilt) Ry(pan) Rz(roll) of angles
  accumulated over the whole path.
- ``roll``/``pitch``/``yaw`` are degrees per segment, eased with smoothstep 3t^2 - 2t^3; ``angular_velocity_*``
  are degrees per frame; ``move_*`` are units per frame along the CURRENT camera axes (their ``move_up`` is +y,
  i.e. down: PEDESTAL_UP has move_up < 0; our ``up`` field has the sign its name says).
  Position at frame i of a segment = segment start + R(i) @ (velocity * i).
- "A + B" adds the fields of A and B. The whole path is smoothed by a Savitzky-Golay filter (window 7, order 3)
  on centres and quaternions.
- Their ORBIT_* only turn the camera in place at 0.1 deg/frame. Ours orbit for real at that rate: the camera
  swings about a pivot ``pivot_depth`` ahead (ORBIT_RIGHT: the centre moves right, the view turns left to keep
  the pivot centred). Their misspelt ORBIT_DONW is accepted as ORBIT_DOWN.
Segments: theirs split the frames evenly among the list's entries; in their interactive demo every generated
chunk appends one entry, so entry k drives chunk k. Ours does exactly that: entry k drives chunk k's new frames
and the last entry repeats when the list is shorter than the number of chunks (entries beyond it are unused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

import numpy as np

SMOOTH_WINDOW, SMOOTH_ORDER = 7, 3  # the authors' camera_pose_control.smoothing_window and savgol order


@dataclass(frozen=True)
class Motion:
    """One chunk's motion. Rotations about the camera's x/y/z: tilt (+ up), pan (+ right), roll (+ right side
    down). Degrees per chunk (eased): tilt, pan, roll. Degrees per frame: *_rate, orbit_right, orbit_up.
    Scene units per frame along the current camera's axes: right, up, forward."""

    tilt: float = 0.0
    pan: float = 0.0
    roll: float = 0.0
    tilt_rate: float = 0.0
    pan_rate: float = 0.0
    roll_rate: float = 0.0
    right: float = 0.0
    up: float = 0.0
    forward: float = 0.0
    orbit_right: float = 0.0
    orbit_up: float = 0.0

    def __add__(self, other: "Motion") -> "Motion":
        return Motion(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, k: float) -> "Motion":
        return Motion(**{f.name: getattr(self, f.name) * k for f in fields(self)})


M = Motion
MOVEMENTS: dict[str, Motion] = {
    "DOLLY_IN": M(forward=0.008), "DOLLY_OUT": M(forward=-0.005),
    "TRUCK_RIGHT": M(right=0.004), "TRUCK_LEFT": M(right=-0.004),
    "PEDESTAL_UP": M(up=0.005), "PEDESTAL_DOWN": M(up=-0.005),
    "PAN_RIGHT": M(pan=5.0), "PAN_LEFT": M(pan=-5.0),
    "TILT_UP": M(tilt=5.0), "TILT_DOWN": M(tilt=-5.0),
    "ROLL_LEFT": M(roll=5.0), "ROLL_RIGHT": M(roll=-5.0),
    "ORBIT_RIGHT": M(orbit_right=0.1), "ORBIT_LEFT": M(orbit_right=-0.1),
    "ORBIT_UP": M(orbit_up=0.1), "ORBIT_DOWN": M(orbit_up=-0.1),
    "CRANE_UP": M(tilt=-3.0, forward=0.002, up=0.003), "CRANE_DOWN": M(tilt=3.0, forward=0.002, up=-0.003),
    "TRACKING_SHOT": M(pan=-4.0, forward=0.002, right=0.004),
    "REVEAL_SHOT": M(tilt=-3.0, up=0.008, roll_rate=-0.05),
    "ESTABLISHING_SHOT": M(forward=0.012),
    "STATIC": M(),
    "DOLLY_IN_SLOW": M(forward=0.005), "DOLLY_IN_FAST": M(forward=0.015),
    "PAN_RIGHT_SLOW": M(pan=3.0), "PAN_LEFT_SLOW": M(pan=-3.0),
    "TILT_UP_SLOW": M(tilt=3.0), "TILT_DOWN_SLOW": M(tilt=-3.0),
    "ZOOM_IN": M(tilt=1.0, forward=0.006),  # theirs is a dolly with a slight tilt, not a focal change
    "HERO_SHOT": M(tilt=2.0, pan=2.0, forward=0.005),
    "FLOAT_UP": M(tilt=-2.0, up=0.002), "FLOAT_DOWN": M(tilt=2.0, up=-0.002),
    "CIRCLE_RIGHT": M(forward=0.002, right=0.002, pan_rate=0.1),
    "CIRCLE_LEFT": M(forward=0.002, right=-0.002, pan_rate=-0.1),
}
del M
ALIASES = {"ORBIT_DONW": "ORBIT_DOWN"}
_SPLIT = re.compile(r"[+|]")


class MovementError(ValueError):
    """A movement expression names something that is not a movement."""


def canonical(expr: str | list[str]) -> str:
    """'dolly_in+ pan_right' or ['DOLLY_IN', 'PAN_RIGHT'] -> 'DOLLY_IN + PAN_RIGHT'; unknown names raise."""
    names = expr if isinstance(expr, list) else _SPLIT.split(expr)
    out = []
    for raw in names:
        name = str(raw).strip().upper()
        name = ALIASES.get(name, name)
        if name not in MOVEMENTS:
            shown = str(raw).strip() or "(empty)"
            raise MovementError(f"unknown camera movement {shown!r}; valid: {', '.join(MOVEMENTS)}")
        out.append(name)
    if not out:
        raise MovementError(f"empty camera movement; valid: {', '.join(MOVEMENTS)}")
    return " + ".join(out)


def parse(expr: str) -> Motion:
    """The combined motion of an expression: the sum of its movements' fields (as the authors combine)."""
    total = Motion()
    for name in canonical(expr).split(" + "):
        total = total + MOVEMENTS[name]
    return total


def chunk_steps(frames: int, history: int, count: int) -> list[int]:
    """Frame-to-frame steps each chunk adds: chunk 0 goes from frame 0 to its last frame; chunk k >= 1 from the
    last frame of chunk k-1 to its own last frame (its new frames). Sums to total_frames - 1."""
    return [frames - 1] + [frames - history] * (count - 1)


def per_chunk(exprs: list[str], count: int) -> list[str]:
    """Entry k for chunk k; the last entry repeats when the list is short, extra entries are unused."""
    return [exprs[min(k, len(exprs) - 1)] for k in range(count)]


def _rot(angles_deg: np.ndarray) -> np.ndarray:
    """(N, 3) accumulated (tilt, pan, roll) -> (N, 3, 3) = Rx(tilt) Ry(pan) Rz(roll)."""
    from scipy.spatial.transform import Rotation  # lazily: the config imports this module (0.4 s of every CLI call)

    return Rotation.from_euler("XYZ", angles_deg, degrees=True).as_matrix()


def _segment(m: Motion, steps: int, angles0: np.ndarray, center0: np.ndarray, pivot_depth: float):
    """Frames 1..steps of one chunk's motion from the pose (angles0, center0): rotations, centres, end angles."""
    i = np.arange(1, steps + 1, dtype=np.float64)
    t = i / steps
    ease = t * t * (3.0 - 2.0 * t)
    orbit = np.outer(i, [-m.orbit_up, -m.orbit_right, 0.0])  # the view turns against the swing
    own = angles0 + np.outer(ease, [m.tilt, m.pan, m.roll]) + np.outer(i, [m.tilt_rate, m.pan_rate, m.roll_rate])
    R, R_no_orbit = _rot(own + orbit), _rot(own)
    v = np.array([m.right, -m.up, m.forward])  # OpenCV camera axes: up is -y
    ahead = np.array([0.0, 0.0, pivot_depth])
    # the orbit part swings the centre so that the point `pivot_depth` ahead stays where it was
    C = center0 + np.einsum("nij,nj->ni", R, np.outer(i, v)) + (R_no_orbit - R) @ ahead
    return R, C, (own + orbit)[-1]


def movement_path(motions: list[Motion], steps: list[int], pivot_depth: float = 3.0,
                  smooth: bool = True) -> np.ndarray:
    """Camera-to-first-camera poses (1 + sum(steps), 4, 4): frame 0 is the identity, chunk k moves by
    ``motions[k]`` over ``steps[k]`` frames, continuing from where chunk k-1 ended."""
    Rs, Cs = [np.eye(3)[None]], [np.zeros((1, 3))]
    angles = np.zeros(3)
    for m, n in zip(motions, steps, strict=True):
        if n < 1:
            continue
        R, C, angles = _segment(m, n, angles, Cs[-1][-1], pivot_depth)
        Rs.append(R), Cs.append(C)
    R, C = np.concatenate(Rs), np.concatenate(Cs)
    if smooth:
        R, C = _savgol(R, C)
    T = np.tile(np.eye(4), (len(R), 1, 1))
    T[:, :3, :3], T[:, :3, 3] = R, C
    T[0] = np.eye(4)  # the start pose stays exact whatever the filter did at the edge
    return T


def _savgol(R: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The authors' smoothing of the whole path: Savitzky-Golay on centres and (sign-continuous) quaternions."""
    from scipy.signal import savgol_filter  # lazily: the config imports this module for the names
    from scipy.spatial.transform import Rotation

    n = len(R)
    win = min(SMOOTH_WINDOW, n if n % 2 else n - 1)
    if win <= SMOOTH_ORDER:
        return R, C
    q = Rotation.from_matrix(R).as_quat()
    flip = np.cumprod(np.where(np.sum(q[1:] * q[:-1], axis=1) < 0, -1.0, 1.0))
    q[1:] *= flip[:, None]  # q and -q are the same rotation: keep neighbours in one hemisphere before filtering
    q = savgol_filter(q, win, SMOOTH_ORDER, axis=0)
    C = savgol_filter(C, win, SMOOTH_ORDER, axis=0)
    return Rotation.from_quat(q / np.linalg.norm(q, axis=1, keepdims=True)).as_matrix(), C
