"""3D Gaussian Splatting cache: initialisation, optimisation, rendering (gsplat or PyTorch) and the validity mask."""

from .cache import RenderOut, Sources, build_cache, render, warp
from .gaussians import Gaussians, covariance, num_sh, rgb_to_sh, sh_to_rgb
from .init import init_from_rgbd, init_kwargs
from .mask import depth_spread, erode, geometric_validity, official_mask, validity_mask
from .optimize import inverse_depth_l1, optimize, photometric_loss, scene_extent
from .ply import load_ply, save_ply
from .rasterize import BackendError, RasterOut, rasterize, resolve_backend

__all__ = [
    "BackendError", "Gaussians", "RasterOut", "RenderOut", "Sources", "build_cache", "covariance", "depth_spread",
    "erode", "geometric_validity", "init_from_rgbd", "init_kwargs", "inverse_depth_l1", "load_ply", "num_sh",
    "official_mask", "optimize", "photometric_loss", "rasterize", "render", "resolve_backend", "rgb_to_sh",
    "save_ply", "scene_extent", "sh_to_rgb", "validity_mask", "warp",
]
