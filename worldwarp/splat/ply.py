"""The INRIA 3DGS .ply layout, which common viewers (SuperSplat, antimatter15, gsplat's exporter) read.

Properties, all float32, binary little endian: x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity
scale_0..2 rot_0..3. f_rest is channel-major (all R coefficients, then G, then B); opacity is a logit,
scales are logs, rot is wxyz: the raw parameters, as in Gaussians.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement

from .gaussians import Gaussians, sh_degree_of


def property_names(k: int) -> list[str]:
    """Vertex property names for K SH coefficients per channel."""
    return (
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        + [f"f_rest_{i}" for i in range(3 * (k - 1))]
        + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    )


def save_ply(path: str | Path, g: Gaussians) -> None:
    g = g.detach().to("cpu")
    n, k = len(g), g.sh.shape[1]
    rest = g.sh[:, 1:].transpose(1, 2).reshape(n, -1)  # (N, 3, K-1) flattened: channel-major
    cols = [g.means, torch.zeros(n, 3), g.sh[:, 0], rest, g.opacities[:, None], g.scales, g.quats]
    data = torch.cat([c.float() for c in cols], 1).numpy()
    names = property_names(k)
    arr = np.empty(n, dtype=[(name, "<f4") for name in names])
    for i, name in enumerate(names):
        arr[name] = data[:, i]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(arr, "vertex")], text=False, byte_order="<").write(str(path))


def load_ply(path: str | Path) -> Gaussians:
    """Read a 3DGS .ply; a missing, truncated or non-3DGS file raises ValueError naming the file and problem."""
    try:
        ply = PlyData.read(str(path))
        vertex = ply["vertex"]
        names = [p.name for p in vertex.properties]
        data = vertex.data
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except KeyError:
        raise ValueError(f"{path}: PLY file has no 'vertex' element") from None
    except Exception as err:  # plyfile raises several types for malformed headers / short bodies
        raise ValueError(f"{path}: not a readable PLY file ({type(err).__name__}: {err})") from None
    n_rest = sum(1 for nm in names if nm.startswith("f_rest_"))
    if n_rest % 3:
        raise ValueError(f"{path}: {n_rest} f_rest_* properties is not a multiple of 3")
    k = n_rest // 3 + 1
    try:
        sh_degree_of(k)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    missing = [nm for nm in property_names(k) if nm not in names and nm not in ("nx", "ny", "nz")]
    if missing:
        raise ValueError(f"{path}: not a 3DGS PLY, missing vertex properties {missing[:6]}")
    col = lambda *ns: torch.from_numpy(np.stack([np.asarray(data[nm], dtype=np.float32) for nm in ns], 1))  # noqa: E731
    n = len(data)
    rest = col(*[f"f_rest_{i}" for i in range(3 * (k - 1))]) if k > 1 else torch.zeros(n, 0)
    sh = torch.cat([col("f_dc_0", "f_dc_1", "f_dc_2")[:, None], rest.reshape(n, 3, k - 1).transpose(1, 2)], 1)
    g = Gaussians(
        means=col("x", "y", "z"), quats=col("rot_0", "rot_1", "rot_2", "rot_3"),
        scales=col("scale_0", "scale_1", "scale_2"), opacities=col("opacity")[:, 0], sh=sh.contiguous(),
    )
    if not all(torch.isfinite(t).all() for t in g.tensors().values()):
        raise ValueError(f"{path}: PLY holds NaN or inf values")
    return g
