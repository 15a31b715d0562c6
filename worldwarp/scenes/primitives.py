"""Analytic ray/primitive intersections, vectorised over rays.

Every shape answers ``intersect(o, d, tmin)``: the smallest ray parameter t > tmin where o + t d meets
its surface (inf where it does not), for rays o, d of shape (M, 3) in any float dtype. ``d`` need not be
unit length: camera rays have unit camera-z (t is z-depth) and occlusion segments run from t = 0 at a
surface point to t = 1 at a camera centre. ``normal(p)`` is the unit normal at surface points, pointing
to the side a camera can see (outward for solids, inward for a hall or a sky dome seen from inside).

Heights: the world is OpenCV-like with up = -y (``look_at``'s default), so a point ``h`` metres above
the floor has y = -h. Shapes take world coordinates; the scene builders convert from heights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

INF = float("inf")


def _pick(t0: torch.Tensor, t1: torch.Tensor, tmin) -> torch.Tensor:
    """Nearest of two candidate hits (t0 <= t1 not required) that lies beyond tmin."""
    inf = torch.full_like(t0, INF)
    t0 = torch.where(t0 > tmin, t0, inf)
    t1 = torch.where(t1 > tmin, t1, inf)
    return torch.minimum(t0, t1)


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a / b with b = 0 replaced by a tiny signed number, so parallel rays give +-inf, never NaN."""
    tiny = torch.finfo(b.dtype).tiny ** 0.5
    b = torch.where(b.abs() < tiny, torch.where(b < 0, -tiny, tiny), b)
    return a / b


@dataclass(frozen=True)
class Sphere:
    center: tuple[float, float, float]
    radius: float
    inward: bool = False  # a dome seen from inside

    def intersect(self, o: torch.Tensor, d: torch.Tensor, tmin) -> torch.Tensor:
        oc = o - o.new_tensor(self.center)
        a = (d * d).sum(-1)
        b = (oc * d).sum(-1)
        c = (oc * oc).sum(-1) - self.radius**2
        disc = b * b - a * c
        sq = disc.clamp_min(0).sqrt()
        t = _pick((-b - sq) / a, (-b + sq) / a, tmin)
        return torch.where(disc >= 0, t, torch.full_like(t, INF))

    def normal(self, p: torch.Tensor) -> torch.Tensor:
        n = (p - p.new_tensor(self.center)) / self.radius
        return -n if self.inward else n

    def bounds(self) -> tuple[tuple[float, float, float], float]:
        return self.center, self.radius


@dataclass(frozen=True)
class Box:
    """Axis-aligned box [lo, hi]; ``inward`` makes it a closed room seen from inside."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    inward: bool = False

    def intersect(self, o: torch.Tensor, d: torch.Tensor, tmin) -> torch.Tensor:
        t1 = _safe_div(o.new_tensor(self.lo) - o, d)
        t2 = _safe_div(o.new_tensor(self.hi) - o, d)
        tnear = torch.minimum(t1, t2).amax(-1)
        tfar = torch.maximum(t1, t2).amin(-1)
        t = _pick(tnear, tfar, tmin)
        return torch.where(tnear <= tfar, t, torch.full_like(t, INF))

    def normal(self, p: torch.Tensor) -> torch.Tensor:
        lo, hi = p.new_tensor(self.lo), p.new_tensor(self.hi)
        q = (p - (lo + hi) / 2) / ((hi - lo) / 2)  # the face hit has |q| = 1 on its axis
        axis = q.abs().argmax(-1, keepdim=True)
        n = torch.zeros_like(p).scatter_(-1, axis, q.gather(-1, axis).sign())
        return -n if self.inward else n

    def bounds(self) -> tuple[tuple[float, float, float], float]:
        c = tuple((a + b) / 2 for a, b in zip(self.lo, self.hi))
        r = 0.5 * math.dist(self.lo, self.hi)
        return c, r  # type: ignore[return-value]


@dataclass(frozen=True)
class Cylinder:
    """Solid vertical cylinder (axis along world y) with flat caps at y0 < y1."""

    x: float
    z: float
    radius: float
    y0: float
    y1: float

    def intersect(self, o: torch.Tensor, d: torch.Tensor, tmin) -> torch.Tensor:
        ox, oz = o[:, 0] - self.x, o[:, 2] - self.z
        dx, dz = d[:, 0], d[:, 2]
        a = dx * dx + dz * dz
        b = ox * dx + oz * dz
        c = ox * ox + oz * oz - self.radius**2
        disc = b * b - a * c
        sq = disc.clamp_min(0).sqrt()
        ok_side = (disc >= 0) & (a > 0)
        a_safe = torch.where(a > 0, a, torch.ones_like(a))
        hits = []
        for root in ((-b - sq) / a_safe, (-b + sq) / a_safe):
            y = o[:, 1] + root * d[:, 1]
            hits.append(torch.where(ok_side & (y >= self.y0) & (y <= self.y1), root, torch.full_like(root, INF)))
        for yc in (self.y0, self.y1):
            tc = _safe_div(yc - o[:, 1], d[:, 1])
            px, pz = ox + tc * dx, oz + tc * dz
            hits.append(torch.where(px * px + pz * pz <= self.radius**2, tc, torch.full_like(tc, INF)))
        t = torch.full_like(a, INF)
        for h in hits:
            t = torch.minimum(t, torch.where(h > tmin, h, torch.full_like(h, INF)))
        return t

    def normal(self, p: torch.Tensor) -> torch.Tensor:
        rx, rz = (p[:, 0] - self.x) / self.radius, (p[:, 2] - self.z) / self.radius
        side = torch.stack([rx, torch.zeros_like(rx), rz], -1)
        # a cap point is closer (relative to the cylinder's size) to a cap plane than to the side
        d_side = (1 - (rx * rx + rz * rz).sqrt()).abs() * self.radius
        d0, d1 = (p[:, 1] - self.y0).abs(), (p[:, 1] - self.y1).abs()
        cap = torch.zeros_like(p)
        cap[:, 1] = torch.where(d0 < d1, -1.0, 1.0).to(p.dtype)
        return torch.where((torch.minimum(d0, d1) < d_side).unsqueeze(-1), cap, side)

    def bounds(self) -> tuple[tuple[float, float, float], float]:
        h = (self.y1 - self.y0) / 2
        return (self.x, (self.y0 + self.y1) / 2, self.z), math.hypot(h, self.radius)


@dataclass(frozen=True)
class Ground:
    """The infinite plane y = y0, seen from above (up = -y)."""

    y0: float = 0.0

    def intersect(self, o: torch.Tensor, d: torch.Tensor, tmin) -> torch.Tensor:
        t = _safe_div(self.y0 - o[:, 1], d[:, 1])
        return torch.where(t > tmin, t, torch.full_like(t, INF))

    def normal(self, p: torch.Tensor) -> torch.Tensor:
        n = torch.zeros_like(p)
        n[:, 1] = -1.0
        return n

    def bounds(self) -> tuple[tuple[float, float, float], float]:
        return (0.0, self.y0, 0.0), INF
