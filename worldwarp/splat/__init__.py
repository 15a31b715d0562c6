"""3D Gaussian Splatting cache: initialisation, optimisation, rendering (gsplat or PyTorch) and the validity mask."""

from .cache import RenderOut, build_cache, render
from .gaussians import Gaussians, covariance, num_sh, rgb_to_sh, sh_to_rgb
from .init import init_from_rgbd
from .mask import depth_spread, validity_mask
from .optimize import optimize, photometric_loss, scene_extent
from .ply import load_ply, save_ply
from .rasterize import BackendError, RasterOut, rasterize, resolve_backend

__all__ = [
    "BackendError", "Gaussians", "RasterOut", "RenderOut", "build_cache", "covariance", "depth_spread",
    "init_from_rgbd", "load_ply", "num_sh", "optimize", "photometric_loss", "rasterize", "render",
    "resolve_backend", "rgb_to_sh", "save_ply", "scene_extent", "sh_to_rgb", "validity_mask",
]
