""""room": a long closed hall (8 m wide, 3.2 m tall, 40 m long) with occluders at many depths.

Layout in metres: x across the hall (-4..4), z along it (0..40), height h above the floor (world y = -h).
The start camera stands at z = 12, 1.3 m high, looking down the hall (+z): 12 m of hall stays behind it
so the 10 m 'backward' preset still ends inside, and the hall is 8 m wide so a +-90 deg orbit about a
pivot 3 m ahead (the camera 3 m to the side) keeps 1 m from the walls. No object stands on the paths of
the presets (the centre line, the truck line z = 12 for |x| <= 3, the orbit's half circle), and the
camera height (1.3 m) passes above the table and the floor sphere.
"""

from __future__ import annotations

import torch

from .base import Scene, Surface
from .primitives import Box, Cylinder, Sphere
from .textures import fbm, mix, soft_checker, soft_tiles, smoothstep, stripes, value_noise

Z0 = 12.0  # start position along the hall
EYE_H = 1.3
HALL = dict(x=(-4.0, 4.0), h=(0.0, 3.2), z=(0.0, 40.0))


def box(x: tuple[float, float], h: tuple[float, float], z: tuple[float, float], inward: bool = False) -> Box:
    return Box((x[0], -h[1], z[0]), (x[1], -h[0], z[1]), inward)


def ball(x: float, h: float, z: float, r: float) -> Sphere:
    return Sphere((x, -h, z), r)


def pillar(x: float, z: float, r: float, h: tuple[float, float] = HALL["h"]) -> Cylinder:
    return Cylinder(x, z, r, -h[1], -h[0])


# -- materials: albedo from the world point (and normal, to tell the hall's faces apart) ----------
def _hall(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    x, h, z = p[:, 0], -p[:, 1], p[:, 2]
    out = torch.empty_like(p)
    floor, ceiling = n[:, 1] < -0.5, n[:, 1] > 0.5
    side = (n[:, 0].abs() > 0.5) & ~floor & ~ceiling
    end = ~(floor | ceiling | side)
    if floor.any():
        pf = p[floor]
        inside, cell = soft_tiles(pf[:, 0], pf[:, 2], 0.6, 0.04, 0.10)
        tile = mix((0.55, 0.42, 0.30), (0.78, 0.70, 0.56), cell * 0.7 + 0.3 * fbm(pf, 0.25, 2, seed=1))
        out[floor] = mix((0.22, 0.20, 0.18), tile, inside)
    if ceiling.any():
        pc = p[ceiling]
        inside, _ = soft_tiles(pc[:, 0] + 0.3, pc[:, 2], 1.2, 0.06, 0.12, seed=2)
        out[ceiling] = mix((0.55, 0.55, 0.58), (0.88, 0.87, 0.82), inside * (0.8 + 0.2 * value_noise(pc, 0.4, 3)))
    if side.any():
        ps, hs, zs = p[side], h[side], z[side]
        plaster = mix((0.62, 0.66, 0.72), (0.80, 0.82, 0.84), fbm(ps, 0.5, 3, seed=4))
        panel = mix((0.35, 0.22, 0.15), (0.55, 0.36, 0.22), stripes(zs, 0.25, 1.2))
        band = smoothstep(0.95, 1.05, hs)  # wainscot below 1 m, plaster above
        wall = mix(panel, plaster, band)
        frieze = stripes(zs + 0.3 * torch.sin(hs * 6.0), 1.5, 2.0) * smoothstep(2.2, 2.3, hs) * (1 - smoothstep(2.6, 2.7, hs))
        out[side] = mix(wall, (0.30, 0.45, 0.60), 0.7 * frieze)
    if end.any():
        pe, xe, he = p[end], x[end], h[end]
        wave = 0.5 + 0.25 * torch.sin(xe * 1.7 + he * 0.9) + 0.25 * torch.sin(he * 2.3 - xe * 0.6)
        out[end] = mix(mix((0.20, 0.35, 0.55), (0.85, 0.65, 0.35), wave), (0.9, 0.9, 0.9), 0.3 * fbm(pe, 0.3, 2, 5))
    return out


def _marble(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    vein = stripes(p[:, 1] * 1.3 + p[:, 0] * 0.8 + 2.0 * fbm(p, 0.4, 2, seed=6), 0.5, 1.5)
    return mix((0.50, 0.48, 0.46), (0.90, 0.88, 0.84), vein)


def _wood(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    grain = stripes(p[:, 0] + 0.6 * fbm(p, 0.3, 2, seed=7), 0.15, 1.0)
    return mix((0.36, 0.20, 0.10), (0.62, 0.40, 0.22), grain)


def _crate(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    # checker on the two coordinates spanning the face (drop the normal's axis)
    u = torch.where(n[:, 0].abs() > 0.5, p[:, 2], p[:, 0])
    v = torch.where(n[:, 1].abs() > 0.5, p[:, 2], p[:, 1])
    c = soft_checker(u, v, 0.25, 0.06)
    return mix(mix((0.70, 0.25, 0.15), (0.95, 0.80, 0.45), c), (0.3, 0.2, 0.1), 0.3 * value_noise(p, 0.3, 8))


def _painted(color_a, color_b, period: float, seed: int):
    def texture(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        s = stripes(p[:, 1] + 0.5 * torch.sin(p[:, 0] * 4.0 + p[:, 2] * 3.0), period, 1.5)
        return mix(mix(color_a, color_b, s), (0.95, 0.95, 0.95), 0.25 * value_noise(p, 0.15, seed))
    return texture


def _metal(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return mix((0.25, 0.28, 0.32), (0.55, 0.60, 0.65), fbm(p, 0.2, 2, seed=9))


def make_room() -> Scene:
    z = Z0
    table_top = (0.72, 0.78)
    legs = [box((x, x + 0.06), (0.0, 0.72), (zz, zz + 0.06)) for x in (0.65, 1.69) for zz in (z + 4.05, z + 4.89)]
    surfaces = [
        Surface(box(HALL["x"], HALL["h"], HALL["z"], inward=True), _hall),
        # near pillar at the left of the start view: the closest occluder (about 1.6 m)
        Surface(pillar(-0.8, z + 1.8, 0.18), _marble),
        # table with a ball on it, beside the pivot of the orbit presets
        Surface(box((0.6, 1.8), table_top, (z + 4.0, z + 5.0)), _wood),
        *[Surface(leg, _wood) for leg in legs],
        Surface(ball(1.2, 0.78 + 0.25, z + 4.5, 0.25), _painted((0.15, 0.35, 0.75), (0.95, 0.85, 0.20), 0.12, 10)),
        # stacked crates on the left
        Surface(box((-2.8, -1.6), (0.0, 1.2), (z + 6.5, z + 7.7)), _crate),
        Surface(box((-2.6, -1.9), (1.2, 1.8), (z + 6.8, z + 7.5)), _crate),
        # big ball on the floor and a hanging lamp ball (mid depth)
        Surface(ball(1.0, 0.5, z + 9.0, 0.5), _painted((0.70, 0.15, 0.20), (0.95, 0.90, 0.80), 0.25, 11)),
        Surface(ball(-0.6, 2.5, z + 8.0, 0.3), _metal),
        # a partition far down the hall, and a cabinet behind the start on the right wall
        Surface(box((-1.2, 1.8), (0.0, 2.0), (z + 16.0, z + 16.4)), _painted((0.20, 0.50, 0.35), (0.85, 0.85, 0.70), 0.4, 12)),
        Surface(box((3.2, 4.0), (0.0, 2.0), (z - 3.0, z - 1.0)), _wood),
    ]
    # colonnade along both walls, clear of the truck line and the orbit's circle
    for zz in (z - 8, z - 4, z + 6, z + 10, z + 14, z + 18, z + 22):
        for x in (-2.7, 2.7):
            surfaces.append(Surface(pillar(x, zz, 0.25), _marble))
    return Scene(
        name="room",
        surfaces=surfaces,
        start_eye=(0.0, -EYE_H, z),
        start_target=(0.0, -(EYE_H - 0.3), z + 8.0),
    )
