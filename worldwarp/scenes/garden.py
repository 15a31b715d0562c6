""""garden": ground with a dirt path and two far hills, trees, rocks, a house, under a sky dome.

Layout in metres: x across, z ahead of the start camera, height h above the ground (world y = -h).
The start camera stands at the origin 1.5 m high looking along +z (down the path). Objects sit from
about 1.5 m (a tree at the left edge of the start view) to 30 m (the house), the hills at 70-170 m, and
the sky dome (radius 200 m, centred on the start) closes every view, so no preset ever looks into a
void. Hand-placed objects and a seeded scatter of trees and rocks keep clear of the presets' paths.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import Scene, Surface
from .primitives import Box, Cylinder, Ground, Sphere
from .textures import fbm, mix, smoothstep, stripes, value_noise

EYE_H = 1.5
SKY_RADIUS = 200.0
LAYOUT_SEED = 7


def box(x: tuple[float, float], h: tuple[float, float], z: tuple[float, float]) -> Box:
    return Box((x[0], -h[1], z[0]), (x[1], -h[0], z[1]))


def ball(x: float, h: float, z: float, r: float) -> Sphere:
    return Sphere((x, -h, z), r)


# -- materials ------------------------------------------------------------------------------------
def _ground(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    x, z = p[:, 0], p[:, 2]
    grass = mix((0.20, 0.36, 0.12), (0.45, 0.60, 0.25), fbm(p, 0.4, 3, seed=20))
    soil = mix((0.40, 0.30, 0.18), (0.60, 0.50, 0.35), fbm(p, 0.25, 3, seed=21))
    patches = smoothstep(0.58, 0.68, fbm(p, 3.0, 2, seed=22))
    path = 1 - smoothstep(0.5, 0.7, (x - 0.4 * torch.sin(z / 6.0)).abs())
    return mix(grass, soil, torch.maximum(path, 0.6 * patches))


def _hill(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return mix((0.25, 0.40, 0.20), (0.50, 0.55, 0.30), fbm(p, 3.0, 3, seed=23))


def _bark(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    streaks = value_noise(p * p.new_tensor([1.0, 0.25, 1.0]), 0.08, seed=24)  # stretched along the trunk
    return mix((0.22, 0.14, 0.08), (0.45, 0.32, 0.20), streaks)


def _leaves(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return mix((0.08, 0.25, 0.06), (0.35, 0.55, 0.15), fbm(p, 0.35, 3, seed=25))


def _rock(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return mix((0.35, 0.34, 0.32), (0.70, 0.68, 0.64), fbm(p, 0.3, 3, seed=26))


def _house(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    h = -p[:, 1]
    u = torch.where(n[:, 0].abs() > 0.5, p[:, 2], p[:, 0])  # horizontal coordinate along the face
    wall = mix((0.85, 0.78, 0.62), (0.95, 0.90, 0.78), fbm(p, 0.5, 2, seed=27))
    col = (u / 1.6) - torch.floor(u / 1.6)
    in_col = smoothstep(0.18, 0.24, col) * (1 - smoothstep(0.76, 0.82, col))
    in_row = smoothstep(0.95, 1.05, h) * (1 - smoothstep(2.15, 2.25, h))
    return mix(wall, (0.15, 0.20, 0.30), in_col * in_row)


def _roof(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return mix((0.45, 0.12, 0.08), (0.70, 0.25, 0.15), stripes(p[:, 2] + 0.3 * p[:, 0], 0.25, 1.5))


def _sky(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    d = p / p.norm(dim=-1, keepdim=True)
    up = -d[:, 1]
    blue = mix((0.75, 0.85, 0.95), (0.25, 0.45, 0.85), smoothstep(0.0, 0.6, up))
    # clouds on a virtual plane above: features shrink toward the horizon like real clouds
    plane = d / (up.clamp_min(0) + 0.25).unsqueeze(-1)
    cloud = smoothstep(0.5, 0.75, fbm(plane * plane.new_tensor([1.0, 0.0, 1.0]), 0.6, 3, seed=28))
    sky = mix(blue, (0.97, 0.97, 0.97), cloud * smoothstep(-0.02, 0.1, up))
    return mix((0.70, 0.75, 0.72), sky, smoothstep(-0.1, 0.0, up))  # haze below the horizon


# -- layout ---------------------------------------------------------------------------------------
def _path_clearance(x: float, z: float) -> float:
    """Distance in the ground plane from (x, z) to the presets' camera paths: the centre line
    (forward/backward 10 m), the truck line (+-3 m) and the orbit half circle (pivot 3 m ahead)."""
    d_line = math.hypot(x, max(0.0, abs(z) - 10.5))
    d_truck = math.hypot(max(0.0, abs(x) - 3.3), z)
    d_orbit = abs(math.hypot(x, z - 3.0) - 3.0) if z <= 3.0 else math.hypot(abs(x) - 3.0, z - 3.0)
    return min(d_line, d_truck, d_orbit)


def _tree(x: float, z: float, trunk_r: float, trunk_h: float, crown_r: float) -> list[Surface]:
    return [
        Surface(Cylinder(x, z, trunk_r, -trunk_h, 0.0), _bark),
        Surface(ball(x, trunk_h + 0.6 * crown_r, z, crown_r), _leaves),
    ]


def _scatter(rng: np.random.Generator, n: int, min_clear: float, taken: list[tuple[float, float, float]]):
    """Positions (x, z) clear of the camera paths and of each other (rejection sampling, fixed seed)."""
    out = []
    while len(out) < n:
        x, z = rng.uniform(-25, 25), rng.uniform(-15, 45)
        r = rng.uniform(0.0, 1.0)
        if _path_clearance(x, z) < min_clear:
            continue
        if -11 < x < -1 and 20 < z < 32:  # the house
            continue
        if any(math.hypot(x - a, z - b) < c + 1.5 for a, b, c in taken):
            continue
        taken.append((x, z, 1.0))
        out.append((x, z, r))
    return out


def make_garden() -> Scene:
    surfaces = [
        Surface(Ground(0.0), _ground),
        Surface(Sphere((0.0, 0.0, 0.0), SKY_RADIUS, inward=True), _sky, lit=False),
        Surface(Sphere((-40.0, 80.0, 110.0), 90.0), _hill),  # centres below ground: 10 m high caps
        Surface(Sphere((45.0, 120.0, 120.0), 130.0), _hill),
        # hand-placed: the nearest tree (left edge of the start view), a low rock, a bench, a big tree
        *_tree(-0.9, 2.2, 0.15, 2.2, 0.8),
        Surface(ball(1.3, -0.2, 3.0, 0.6), _rock),
        Surface(box((1.8, 2.6), (0.0, 0.5), (5.0, 5.6)), _roof),
        *_tree(4.0, 12.0, 0.3, 3.5, 1.8),
        *_tree(-2.2, 8.0, 0.2, 2.6, 1.1),
        # the house with a roof slab and a chimney, 22-30 m ahead on the left
        Surface(box((-9.0, -3.0), (0.0, 3.5), (22.0, 30.0)), _house),
        Surface(box((-9.3, -2.7), (3.5, 4.1), (21.7, 30.3)), _roof),
        Surface(box((-5.0, -4.2), (4.1, 5.3), (26.0, 26.8)), _house),
    ]
    rng = np.random.default_rng(LAYOUT_SEED)
    taken = [(-0.9, 2.2, 0.8), (1.3, 3.0, 0.6), (2.2, 5.3, 0.5), (4.0, 12.0, 1.8), (-2.2, 8.0, 1.1)]
    for x, z, r in _scatter(rng, 14, 3.0, taken):
        trunk_h = 2.2 + 2.0 * r
        surfaces += _tree(float(x), float(z), 0.15 + 0.2 * r, trunk_h, 1.0 + 1.2 * r)
    for x, z, r in _scatter(rng, 10, 1.5, taken):
        rad = 0.3 + 0.6 * r
        surfaces.append(Surface(ball(float(x), -0.3 * rad, float(z), rad), _rock))
    return Scene(
        name="garden",
        surfaces=surfaces,
        start_eye=(0.0, -EYE_H, 0.0),
        start_target=(0.0, -(EYE_H - 0.4), 8.0),
        light_dir=(0.4, -0.8, -0.3),
    )
