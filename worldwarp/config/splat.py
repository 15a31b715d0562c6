"""3D Gaussian Splatting cache: initialisation, optimisation, rendering and the validity mask.

The defaults are this project's recipe ("longshot"); PROFILES["official"]["splat"] (config/profiles.py) holds the
authors' values of the knobs where their recipe differs (src/ttt3r/ttt3r.py and pose_control.py, commit 0396b80).
``splat.fresh`` is gone: it is the deprecated alias of ``memory.mode`` (fresh/append), see config/memory.py.
"""

from typing import Literal

from pydantic import Field, field_validator

from .base import Section, When

_OFFICIAL_MASK = When("splat.mask is official", lambda c: c.splat.mask == "official", ("splat.mask",))


class SplatConfig(Section):
    APPLIES = dict.fromkeys(("mask_threshold", "geo_depth_tolerance", "geo_min_views"), _OFFICIAL_MASK)
    backend: Literal["auto", "gsplat", "torch"] = Field("auto", description="auto: gsplat on CUDA, PyTorch reference otherwise")
    steps: int = Field(500, ge=0, le=100_000, description="optimisation steps per chunk (one random source view per step)")
    # -- initialisation
    subsample: int = Field(1, ge=1, le=64, description="keep every n-th pixel (per axis) when seeding Gaussians")
    max_points_per_frame: int = Field(0, ge=0, description="seed at most this many pixels per frame, drawn at random without replacement (seeded); 0: all")
    max_points: int = Field(0, ge=0, description="cap on the seeded cloud: voxel-grid averaging, voxel grown 1.1x until under the cap; 0: no cap")
    min_depth: float = Field(0.0, ge=0, description="pixels with depth <= this seed nothing (the authors' conf_threshold, in depth units)")
    dedup: bool = Field(True, description="skip pixels of later frames whose surface an earlier frame already seeded")
    init_scale: Literal["footprint", "knn"] = Field("footprint", description="footprint: the pixel's size at its depth; knn: sqrt of the mean squared distance to the 3 nearest seeds")
    pixel_offset: float = Field(0.5, ge=0, le=0.5, description="pixel (x, y)'s centre is at (x + offset, y + offset) when back-projecting seeds and in the geometric mask (0.5: the rasteriser's convention)")
    sh_degree: int = Field(0, ge=0, le=3)
    init_opacity: float = Field(0.9, gt=0, lt=1)
    # -- loss and Adam
    lambda_dssim: float = Field(0.2, ge=0, le=1)
    lambda_depth: float = Field(0.0, ge=0, description="weight of the L1 loss on inverse depth (rendered vs the frames' depth, where depth > 0); 0: off")
    lr_means: float = Field(1.6e-4, ge=0)
    lr_means_scale: Literal["extent", "none"] = Field("extent", description="extent: lr_means times the scene extent; none: lr_means as is")
    lr_scales: float = Field(5e-3, ge=0)
    lr_quats: float = Field(1e-3, ge=0)
    lr_opacities: float = Field(5e-2, ge=0)
    lr_colors: float = Field(2.5e-3, ge=0, description="lr of the SH DC (base colour)")
    lr_sh_rest_ratio: float = Field(0.05, ge=0, description="lr of the higher-order SH = lr_colors times this")
    # -- validity mask of the warp
    mask: Literal["longshot", "official"] = Field("longshot", description="longshot: alpha and depth-spread tests; official: alpha x geometric validity >= mask_threshold")
    alpha_threshold: float = Field(0.8, gt=0, lt=1, description="longshot mask: alpha below this is a hole (0.8: recall of true disocclusions 0.83-0.95 on the procedural scenes, see docs/BENCHMARKS.md)")
    depth_tolerance: float = Field(0.2, ge=0, description="longshot mask: relative depth spread above this marks a mixed fg/bg pixel; 0 disables the test")
    mask_threshold: float = Field(0.5, gt=0, le=1, description="official mask: alpha x geometric validity below this is a hole")
    geo_depth_tolerance: float = Field(0.1, gt=0, description="official mask: a pixel is seen by a source view if its relative depth error there is below this")
    geo_min_views: int = Field(1, ge=1, description="official mask: source views that must see a pixel")
    mask_erosion: int = Field(1, ge=1, le=63, description="erode the mask with a k x k box (zero padding: the image border erodes too); 1: off")

    @field_validator("mask_erosion")
    @classmethod
    def _odd(cls, k: int) -> int:
        if k % 2 == 0:
            raise ValueError("must be odd (a centred k x k box)")
        return k
