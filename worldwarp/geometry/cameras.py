"""The one camera convention used everywhere in WorldWarp.

- OpenCV camera frame: x right, y down, z forward (the camera looks along +z).
- Extrinsics are world-to-camera 4x4 matrices (``w2c``, gsplat's ``viewmats``): x_cam = R @ x_world + t.
- Intrinsics are 3x3 pinhole matrices in pixels; pixel centres sit at integer + 0.5
  (the pixel (u, v) = (0, 0) covers [0, 1) x [0, 1)), as in gsplat and OpenCV's projection.
- Depth is z-depth in the camera frame (not distance along the ray), in scene units (metres).
- Images are float32 in [0, 1], channels last: (N, H, W, 3). Depth and masks are (N, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


class CameraError(ValueError):
    """Cameras that are not valid (shape, NaN/inf, rotation not orthonormal)."""


def intrinsics_from_fov(width: int, height: int, fov_x_deg: float) -> torch.Tensor:
    """Pinhole K with square pixels and the principal point at the image centre."""
    fx = 0.5 * width / torch.tan(torch.deg2rad(torch.tensor(fov_x_deg, dtype=torch.float64)) / 2)
    K = torch.eye(3, dtype=torch.float64)
    K[0, 0] = K[1, 1] = fx
    K[0, 2], K[1, 2] = width / 2.0, height / 2.0
    return K.float()


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None) -> torch.Tensor:
    """World-to-camera matrix of a camera at ``eye`` looking at ``target``; ``up`` is world up (default -y, OpenCV)."""
    eye, target = torch.as_tensor(eye, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    up = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64) if up is None else torch.as_tensor(up, dtype=torch.float64)
    z = target - eye
    z = z / z.norm()
    x = torch.linalg.cross(-up, z)  # camera x = right; image y points down, so world up is -y
    if x.norm() < 1e-9:
        raise CameraError("look_at: viewing direction is parallel to up")
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z])  # rows: camera axes in world coordinates
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ eye
    return w2c.float()


def invert_rigid(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid 4x4 transforms (..., 4, 4) without a general matrix inverse."""
    R, t = T[..., :3, :3], T[..., :3, 3:]
    out = torch.zeros_like(T)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3:] = -R.transpose(-1, -2) @ t
    out[..., 3, 3] = 1
    return out


def camera_centers(w2c: torch.Tensor) -> torch.Tensor:
    """World positions (N, 3) of cameras given world-to-camera (N, 4, 4)."""
    return invert_rigid(w2c)[..., :3, 3]


def pixel_grid(height: int, width: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (u, v), each (H, W)."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + 0.5,
        torch.arange(width, device=device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    return u, v


def unproject(depth: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor) -> torch.Tensor:
    """World points (H, W, 3) of one depth map (H, W) seen by a camera (K, w2c)."""
    H, W = depth.shape
    u, v = pixel_grid(H, W, depth.device)
    x = (u - K[0, 2]) / K[0, 0] * depth
    y = (v - K[1, 2]) / K[1, 1] * depth
    pts_cam = torch.stack([x, y, depth], dim=-1)
    c2w = invert_rigid(w2c.to(depth))
    return pts_cam @ c2w[:3, :3].T + c2w[:3, 3]


def project(points: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (..., 2) and z-depth (...) of world points (..., 3)."""
    pc = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[..., 2]
    uv = (pc[..., :2] / z.clamp_min(1e-9).unsqueeze(-1)) @ K[:2, :2].T + K[:2, 2]
    return uv, z


def rays(K: torch.Tensor, w2c: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins (H, W, 3) and directions (H, W, 3) in world space; directions have unit z in the camera
    frame, so a ray parameter s is exactly the z-depth of the point it reaches."""
    u, v = pixel_grid(height, width, K.device)
    d_cam = torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)], dim=-1)
    c2w = invert_rigid(w2c)
    d = d_cam @ c2w[:3, :3].T
    o = c2w[:3, 3].expand_as(d)
    return o, d


@dataclass
class Cameras:
    """A sequence of pinhole cameras sharing one image size."""

    K: torch.Tensor  # (N, 3, 3)
    w2c: torch.Tensor  # (N, 4, 4)
    width: int
    height: int

    def __post_init__(self) -> None:
        self.K = torch.as_tensor(self.K, dtype=torch.float32)
        self.w2c = torch.as_tensor(self.w2c, dtype=torch.float32)
        validate_cameras(self.K, self.w2c)
        if self.width < 1 or self.height < 1:
            raise CameraError(f"image size must be positive, got {self.width}x{self.height}")

    def __len__(self) -> int:
        return self.K.shape[0]

    def __getitem__(self, idx) -> "Cameras":
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return Cameras(self.K[idx], self.w2c[idx], self.width, self.height)

    def to(self, device) -> "Cameras":
        out = Cameras.__new__(Cameras)
        out.K, out.w2c, out.width, out.height = self.K.to(device), self.w2c.to(device), self.width, self.height
        return out

    @property
    def centers(self) -> torch.Tensor:
        return camera_centers(self.w2c)


def validate_cameras(K: torch.Tensor, w2c: torch.Tensor, atol: float = 1e-3) -> None:
    """Raise CameraError naming the first problem: shapes, non-finite values, non-orthonormal rotations."""
    if K.ndim != 3 or K.shape[1:] != (3, 3):
        raise CameraError(f"K must have shape (N, 3, 3), got {tuple(K.shape)}")
    if w2c.ndim != 3 or w2c.shape[1:] != (4, 4):
        raise CameraError(f"world-to-camera must have shape (N, 4, 4), got {tuple(w2c.shape)}")
    if K.shape[0] != w2c.shape[0]:
        raise CameraError(f"{K.shape[0]} intrinsics but {w2c.shape[0]} poses")
    if K.shape[0] == 0:
        raise CameraError("no cameras")
    if not torch.isfinite(K).all() or not torch.isfinite(w2c).all():
        raise CameraError("cameras contain NaN or inf")
    if (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
        raise CameraError("focal lengths must be positive")
    R = w2c[:, :3, :3].double()
    eye = torch.eye(3, dtype=torch.float64, device=R.device).expand_as(R)
    err = (R @ R.transpose(1, 2) - eye).abs().amax(dim=(1, 2))
    if (err > atol).any():
        i = int(torch.argmax(err))
        raise CameraError(f"rotation of camera {i} is not orthonormal (max |RR^T - I| = {float(err[i]):.3g})")
    if (torch.linalg.det(R) < 0).any():
        raise CameraError("rotation has determinant -1 (a reflection, not a rotation)")
    if (w2c[:, 3] - torch.tensor([0.0, 0, 0, 1], device=w2c.device)).abs().max() > 1e-6:
        raise CameraError("last row of world-to-camera must be [0, 0, 0, 1]")
