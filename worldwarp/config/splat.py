"""3D Gaussian Splatting cache: initialisation, optimisation, rendering and the validity mask."""

from typing import Literal

from pydantic import Field

from .base import Section


class SplatConfig(Section):
    backend: Literal["auto", "gsplat", "torch"] = Field("auto", description="auto: gsplat on CUDA, PyTorch reference otherwise")
    steps: int = Field(500, ge=0, le=100_000, description="optimisation steps per chunk")
    fresh: bool = Field(True, description="rebuild the cache from only the newest frames each chunk (the paper's choice)")
    subsample: int = Field(1, ge=1, le=64, description="keep every n-th pixel (per axis) when seeding Gaussians")
    sh_degree: int = Field(0, ge=0, le=3)
    init_opacity: float = Field(0.9, gt=0, lt=1)
    lambda_dssim: float = Field(0.2, ge=0, le=1)
    lr_means: float = Field(1.6e-4, ge=0, description="scaled by scene extent")
    lr_scales: float = Field(5e-3, ge=0)
    lr_quats: float = Field(1e-3, ge=0)
    lr_opacities: float = Field(5e-2, ge=0)
    lr_colors: float = Field(2.5e-3, ge=0)
    alpha_threshold: float = Field(0.8, gt=0, lt=1, description="alpha below this is a hole (0.8: recall of true disocclusions 0.83-0.95 on the procedural scenes, see docs/BENCHMARKS.md)")
    depth_tolerance: float = Field(0.2, ge=0, description="relative depth spread above this marks a mixed fg/bg pixel; 0 disables the test")
