"""The Gaussians container: raw 3DGS parameters, exactly as the INRIA .ply stores them."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

SH_C0 = 0.28209479177387814  # Y_0^0; 3DGS stores colour as 0.5 + SH_C0 * dc


def num_sh(degree: int) -> int:
    return (degree + 1) ** 2


def sh_degree_of(k: int) -> int:
    """SH degree from the number of coefficients K = (deg + 1)^2."""
    deg = round(k**0.5) - 1
    if num_sh(deg) != k or not 0 <= deg <= 3:
        raise ValueError(f"{k} SH coefficients is not (deg + 1)^2 for a degree 0..3")
    return deg


def rgb_to_sh(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb - 0.5) / SH_C0


def sh_to_rgb(dc: torch.Tensor) -> torch.Tensor:
    return dc * SH_C0 + 0.5


@dataclass
class Gaussians:
    """N Gaussians. quats are wxyz (normalised when used), scales are LOG scales, opacities are LOGITS,
    sh is (N, K, 3) with the DC term first."""

    means: torch.Tensor  # (N, 3)
    quats: torch.Tensor  # (N, 4)
    scales: torch.Tensor  # (N, 3)
    opacities: torch.Tensor  # (N,)
    sh: torch.Tensor  # (N, K, 3)

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        shapes = {"means": (n, 3), "quats": (n, 4), "scales": (n, 3), "opacities": (n,)}
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"Gaussians.{name} must have shape {shape}, got {tuple(getattr(self, name).shape)}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"Gaussians.sh must have shape ({n}, K, 3), got {tuple(self.sh.shape)}")
        sh_degree_of(self.sh.shape[1])

    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return sh_degree_of(self.sh.shape[1])

    @property
    def device(self) -> torch.device:
        return self.means.device

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _map(self, fn) -> "Gaussians":
        return Gaussians(**{k: fn(v) for k, v in self.tensors().items()})

    def select(self, idx: torch.Tensor) -> "Gaussians":
        """The Gaussians at ``idx`` (indices or a bool mask), every field alike."""
        return self._map(lambda t: t[idx])

    def to(self, device) -> "Gaussians":
        return self._map(lambda t: t.to(device))

    def detach(self) -> "Gaussians":
        return self._map(lambda t: t.detach())

    def clone(self) -> "Gaussians":
        return self._map(lambda t: t.detach().clone())

    @staticmethod
    def cat(parts: list["Gaussians"]) -> "Gaussians":
        """Concatenate; SH of lower degree are zero-padded to the highest degree among the parts."""
        k = max(p.sh.shape[1] for p in parts)
        pad = [torch.nn.functional.pad(p.sh, (0, 0, 0, k - p.sh.shape[1])) for p in parts]
        out = {name: torch.cat([getattr(p, name) for p in parts]) for name in ("means", "quats", "scales", "opacities")}
        return Gaussians(**out, sh=torch.cat(pad))


def covariance(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """World covariances (N, 3, 3) = R S^2 R^T from wxyz quaternions and LINEAR scales."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)
    M = R * scales.unsqueeze(-2)  # R @ diag(s)
    return M @ M.transpose(-1, -2)
