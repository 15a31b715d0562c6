"""A scene of analytic surfaces: exact rendering and exact visibility for any pinhole camera.

Rays are traced against every surface (nearest hit wins); colour is a procedural albedo times a fixed
diffuse light, so it does not depend on the viewpoint and one view warps exactly into another.
Work is done one block of rays at a time (within a camera, or several cameras that keep the same surfaces), so
memory stays bounded at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch

from ..geometry.cameras import Cameras, camera_centers, rays

Texture = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (points, normals) (M, 3) -> albedo (M, 3)

BLOCK_RAYS = 1 << 16  # rays per block: bounds the (surfaces x rays) working set to a few MB
BLOCK_RAYS_GPU = 1 << 21  # on a GPU: a few full-size cameras per block (a few hundred MB), launches are the cost
RENDER_TMIN = 1e-4  # metres of z-depth: nothing is closer to a camera than this
SEG_EPS = 1e-4  # relative to a point-to-camera segment: tolerance of the occlusion test at both ends


class Shape(Protocol):
    def intersect(self, o: torch.Tensor, d: torch.Tensor, tmin) -> torch.Tensor: ...
    def normal(self, p: torch.Tensor) -> torch.Tensor: ...
    def bounds(self) -> tuple[tuple[float, float, float], float]: ...


@dataclass(frozen=True)
class Surface:
    shape: Shape
    texture: Texture
    lit: bool = True  # False for emissive surfaces (the sky)


@dataclass
class Scene:
    """Procedural scene: ``render`` gives exact RGB + z-depth; ``disocclusion_mask`` exact visibility."""

    name: str
    surfaces: list[Surface]
    start_eye: tuple[float, float, float]
    start_target: tuple[float, float, float]
    light_dir: tuple[float, float, float] = (0.35, -0.8, -0.45)  # toward the light; up is -y
    ambient: float = 0.45
    _unit_light: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        L = torch.tensor(self.light_dir, dtype=torch.float32)
        self._unit_light = L / L.norm()

    # -- public API ---------------------------------------------------------------------------
    def start_pose(self) -> torch.Tensor:
        """World-to-camera (4, 4) of the first camera (see the scene module for why it stands there)."""
        from ..geometry.cameras import look_at

        return look_at(torch.tensor(self.start_eye), torch.tensor(self.start_target))

    def render(self, cams: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB (N, H, W, 3) in [0, 1] and z-depth (N, H, W), float32, on the cameras' device."""
        H, W, N = cams.height, cams.width, len(cams)
        n = H * W
        block = BLOCK_RAYS if cams.K.device.type == "cpu" else BLOCK_RAYS_GPU
        actives = [self._visible_surfaces(cams.K[i], cams.w2c[i], W, H) for i in range(N)]
        rgb = torch.empty(N * n, 3, device=cams.K.device)
        depth = torch.empty(N * n, device=cams.K.device)
        i = 0
        while i < N:
            # neighbouring cameras that keep the same surfaces share blocks: every ray's result is its own, so
            # only the number of kernel launches changes (what bounds a GPU here)
            j = i + 1
            while j < N and (j + 1 - i) * n <= block and actives[j] == actives[i]:
                j += 1
            od = [rays(cams.K[c], cams.w2c[c], H, W) for c in range(i, j)]
            o, d = torch.cat([x[0].reshape(-1, 3) for x in od]), torch.cat([x[1].reshape(-1, 3) for x in od])
            for s in range(0, len(o), block):
                sl, out = slice(s, s + block), slice(i * n + s, i * n + min(s + block, len(o)))
                t, idx = self._trace(o[sl], d[sl], actives[i], RENDER_TMIN)
                depth[out] = t
                rgb[out] = self._shade(o[sl] + t.unsqueeze(-1) * d[sl], idx)
            i = j
        return rgb.reshape(N, H, W, 3), depth.reshape(N, H, W)

    def disocclusion_mask(self, src: Cameras, dst: Cameras) -> torch.Tensor:
        """Bool (N_dst, H, W): True where the surface point a dst pixel sees was seen by NO src camera.

        A src camera sees a point when the point projects inside its image, lies in front of it, faces
        it, and the segment from the point to the camera centre crosses no surface (tested against the
        analytic geometry in float64, ignoring a relative ``SEG_EPS`` at both ends)."""
        dev = dst.K.device
        K_src, w2c_src = src.K.to(dev, torch.float64), src.w2c.to(dev, torch.float64)
        centers = camera_centers(w2c_src)
        H, W = dst.height, dst.width
        masks = []
        for i in range(len(dst)):
            o, d = rays(dst.K[i], dst.w2c[i], H, W)  # the very rays ``render`` traces, then in float64
            o, d = o.reshape(-1, 3).double(), d.reshape(-1, 3).double()
            seen = torch.zeros(H * W, dtype=torch.bool, device=dev)
            for s in range(0, H * W, BLOCK_RAYS):
                sl = slice(s, s + BLOCK_RAYS)
                t, idx = self._trace(o[sl], d[sl], list(range(len(self.surfaces))), RENDER_TMIN)
                p = o[sl] + t.unsqueeze(-1) * d[sl]
                n = self._normals(p, idx)
                for j in range(len(src)):
                    seen[sl] |= self._seen_from(p, n, K_src[j], w2c_src[j], centers[j], src.width, src.height)
            masks.append((~seen).reshape(H, W))
        return torch.stack(masks)

    # -- tracing ------------------------------------------------------------------------------
    def _trace(self, o: torch.Tensor, d: torch.Tensor, active: list[int], tmin) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest hit parameter (M,) and surface index (M,) among the ``active`` surfaces."""
        t_best = torch.full(o.shape[:1], math.inf, dtype=o.dtype, device=o.device)
        idx = torch.full(o.shape[:1], -1, dtype=torch.long, device=o.device)
        for k in active:
            t = self.surfaces[k].shape.intersect(o, d, tmin)
            closer = t < t_best
            t_best = torch.where(closer, t, t_best)
            idx = torch.where(closer, k, idx)
        if (idx < 0).any():  # scenes are closed (walls or a sky dome): a miss is a bug, not a background
            raise RuntimeError(f"scene {self.name!r}: {int((idx < 0).sum())} rays hit nothing")
        return t_best, idx

    def _occluded(self, p: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """Whether any surface crosses the open segment p -> p + seg (t in (SEG_EPS, 1 - SEG_EPS))."""
        hit = torch.zeros(p.shape[:1], dtype=torch.bool, device=p.device)
        for surf in self.surfaces:
            live = ~hit
            if not live.any():
                break
            t = surf.shape.intersect(p[live], seg[live], SEG_EPS)
            hit[live] = t < 1 - SEG_EPS
        return hit

    def _seen_from(self, p, n, K, w2c, center, width: int, height: int) -> torch.Tensor:
        pc = p @ w2c[:3, :3].T + w2c[:3, 3]
        z = pc[:, 2]
        uv = (pc[:, :2] / z.clamp_min(1e-12).unsqueeze(-1)) @ K[:2, :2].T + K[:2, 2]
        inside = (z > RENDER_TMIN) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        seg = center - p
        # back faces are hidden by the surface itself (needed for the open ground plane; exact for solids)
        facing = (seg * n).sum(-1) > -1e-9 * seg.norm(dim=-1)
        cand = inside & facing
        seen = torch.zeros_like(cand)
        if cand.any():
            seen[cand] = ~self._occluded(p[cand], seg[cand])
        return seen

    # -- shading ------------------------------------------------------------------------------
    def _normals(self, p: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        n = torch.zeros_like(p)
        for k in idx.unique().tolist():
            m = idx == k
            n[m] = self.surfaces[k].shape.normal(p[m])
        return n

    def _shade(self, p: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        rgb = torch.zeros(p.shape[0], 3, device=p.device)
        light = self._unit_light.to(p.device)
        for k in idx.unique().tolist():
            m = idx == k
            surf = self.surfaces[k]
            pk = p[m].float()
            nk = surf.shape.normal(pk)
            col = surf.texture(pk, nk)
            if surf.lit:
                col = col * (self.ambient + (1 - self.ambient) * (nk @ light).clamp_min(0)).unsqueeze(-1)
            rgb[m] = col
        return rgb.clamp(0, 1)

    def _visible_surfaces(self, K: torch.Tensor, w2c: torch.Tensor, width: int, height: int) -> list[int]:
        """Surfaces whose bounding sphere may touch the view frustum (a conservative cull)."""
        fx, fy, cx, cy = (float(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
        # inward normals of the four side planes through the camera centre, in camera coordinates
        planes = torch.tensor([[fx, 0.0, cx], [-fx, 0.0, width - cx], [0.0, fy, cy], [0.0, -fy, height - cy]],
                              dtype=torch.float64)
        planes = planes / planes.norm(dim=-1, keepdim=True)
        R, t = w2c[:3, :3].double().cpu(), w2c[:3, 3].double().cpu()
        keep = []
        for k, surf in enumerate(self.surfaces):
            c, r = surf.shape.bounds()
            if math.isinf(r):
                keep.append(k)
                continue
            pc = R @ torch.tensor(c, dtype=torch.float64) + t
            if pc[2] >= -r and bool((planes @ pc >= -r).all()):
                keep.append(k)
        return keep
