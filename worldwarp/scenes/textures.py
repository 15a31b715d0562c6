"""Band-limited procedural textures, evaluated at 3D surface points.

All patterns are smooth: quintic-interpolated value noise, sinusoids, and tiles whose edges are blurred
over a few centimetres, so a Gaussian splat fitted at low resolution can reproduce them and a bilinear
warp of one view into another matches up to small sampling error. Noise comes from an integer hash of
lattice coordinates (no RNG, identical on every device).
"""

from __future__ import annotations

import torch

_MASK31 = 0x7FFFFFFF


def _hash(ix: torch.Tensor, iy: torch.Tensor, iz: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform [0, 1] value per integer lattice point. Values stay below 2^31 before every multiply,
    so int64 products never overflow and the result is the same on CPU and GPU."""
    h = (ix * 1597334677 + iy * 3812015801 + iz * 2798796415 + seed * 1013904223) & _MASK31
    h = ((h ^ (h >> 15)) * 2246822519) & _MASK31
    h = ((h ^ (h >> 13)) * 3266489917) & _MASK31
    h = h ^ (h >> 16)
    return (h & 0xFFFF).to(torch.float32) / 65535.0


def _fade(f: torch.Tensor) -> torch.Tensor:
    return f * f * f * (f * (f * 6 - 15) + 10)  # C2 quintic: no visible lattice creases


def value_noise(p: torch.Tensor, scale: float, seed: int = 0) -> torch.Tensor:
    """Smooth noise in [0, 1] with features about ``scale`` metres across, at points p (M, 3)."""
    q = p.float() / scale
    i = torch.floor(q)
    f = _fade(q - i)
    i = i.long()
    ix, iy, iz = i[:, 0], i[:, 1], i[:, 2]
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]

    def corner(dx: int, dy: int, dz: int) -> torch.Tensor:
        return _hash(ix + dx, iy + dy, iz + dz, seed)

    def lerp(a, b, t):
        return a + (b - a) * t

    x00 = lerp(corner(0, 0, 0), corner(1, 0, 0), fx)
    x10 = lerp(corner(0, 1, 0), corner(1, 1, 0), fx)
    x01 = lerp(corner(0, 0, 1), corner(1, 0, 1), fx)
    x11 = lerp(corner(0, 1, 1), corner(1, 1, 1), fx)
    return lerp(lerp(x00, x10, fy), lerp(x01, x11, fy), fz)


def fbm(p: torch.Tensor, scale: float, octaves: int = 3, seed: int = 0) -> torch.Tensor:
    """Sum of noise octaves (each half the size, half the weight), normalised to [0, 1]."""
    total, weight, norm = torch.zeros(p.shape[0], device=p.device), 1.0, 0.0
    for k in range(octaves):
        total = total + weight * value_noise(p, scale / 2**k, seed + 17 * k)
        norm += weight
        weight *= 0.5
    return total / norm


def smoothstep(e0: float, e1: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def mix(a, b, t: torch.Tensor) -> torch.Tensor:
    """Blend colours a, b (3-tuples or (M, 3)) by weights t (M,)."""
    a = torch.as_tensor(a, dtype=torch.float32, device=t.device)
    b = torch.as_tensor(b, dtype=torch.float32, device=t.device)
    return a + (b - a) * t.unsqueeze(-1)


def soft_tiles(u: torch.Tensor, v: torch.Tensor, size: float, gap: float, blur: float, seed: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiles of ``size`` metres separated by grout ``gap`` wide, edges blurred over ``blur`` metres.
    Returns (inside weight in [0, 1], per-tile random value); the tile value only shows where the
    weight is > 0, i.e. away from tile borders, so the blended colour is continuous."""
    qu, qv = u / size, v / size
    cu, cv = torch.floor(qu), torch.floor(qv)
    du = torch.minimum(qu - cu, 1 - (qu - cu)) * size
    dv = torch.minimum(qv - cv, 1 - (qv - cv)) * size
    inside = smoothstep(gap / 2, gap / 2 + blur, torch.minimum(du, dv))
    cell = _hash(cu.long(), cv.long(), torch.zeros_like(cu).long(), seed)
    return inside, cell


def soft_checker(u: torch.Tensor, v: torch.Tensor, size: float, blur: float) -> torch.Tensor:
    """Checkerboard in [0, 1] whose square edges ramp over about ``blur`` metres."""
    k = torch.pi / size
    s = torch.sin(u * k) * torch.sin(v * k)
    # sin product is ~ linear near the edges with slope ~ k * (distance to the nearer edge line)
    return smoothstep(-1.0, 1.0, s / (k * blur))


def stripes(x: torch.Tensor, period: float, sharpness: float = 1.0) -> torch.Tensor:
    """Soft stripes in [0, 1]: a sinusoid pushed toward a square wave by ``sharpness`` (1 = pure sine)."""
    s = torch.sin(x * (2 * torch.pi / period))
    return 0.5 + 0.5 * torch.tanh(sharpness * s) / torch.tanh(torch.tensor(float(sharpness)))
