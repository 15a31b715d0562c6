"""Real spherical harmonics up to degree 3 (the constants and sign convention of 3DGS / gsplat)."""

from __future__ import annotations

import torch

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (
    -0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
    -0.4570457994644658, 1.445305721320277, -0.5900435899266435,
)


def sh_basis(dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """Basis values (..., (degree+1)^2) at unit directions (..., 3)."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, C0)]
    if degree >= 1:
        out += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [C2[0] * xy, C2[1] * yz, C2[2] * (2 * zz - xx - yy), C2[3] * xz, C2[4] * (xx - yy)]
    if degree >= 3:
        out += [
            C3[0] * y * (3 * xx - yy), C3[1] * xy * z, C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy), C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy), C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def eval_colors(sh: torch.Tensor, means: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """View-dependent RGB (C, N, 3) seen from camera centres (C, 3): clamp_min(0.5 + sum_k Y_k c_k, 0),
    as gsplat does when given SH coefficients."""
    degree = round(sh.shape[1] ** 0.5) - 1
    if degree == 0:  # no view dependence: skip the directions entirely
        rgb = (C0 * sh[:, 0]).unsqueeze(0).expand(centers.shape[0], -1, -1)
    else:
        d = means.unsqueeze(0) - centers[:, None, :]
        d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        rgb = torch.einsum("cnk,nkd->cnd", sh_basis(d, degree), sh)
    return (rgb + 0.5).clamp_min(0.0)
