"""Tiny random-initialised Depth Anything V2 and Depth Pro directories built from configs in code (no hub),
saved with save_pretrained in transformers' layout so tests load them through the real loader."""

from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_DINOV2 = dict(patch_size=14, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64)
# Depth Anything V2 processor settings (DPTImageProcessor in the released checkpoints), scaled down
DA_PREPROCESSOR = dict(image_processor_type="DPTImageProcessor", do_resize=True, size={"height": 42, "width": 42},
                       keep_aspect_ratio=True, ensure_multiple_of=14, resample=3, do_rescale=True,
                       rescale_factor=1 / 255, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                       image_std=[0.229, 0.224, 0.225], do_pad=False)
DEPTH_PRO_SIDE = 64  # network input side; the patch encoder sees 32x32 patches (the real model: 1536 / 384)
DP_PREPROCESSOR = dict(image_processor_type="DepthProImageProcessor", do_resize=True,
                       size={"height": DEPTH_PRO_SIDE, "width": DEPTH_PRO_SIDE}, resample=2, do_rescale=True,
                       rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def _save(model: torch.nn.Module, preprocessor: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    # written directly: DepthProImageProcessor needs torchvision to be instantiated; the keys are the processor's
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    return out


def build_tiny_depth_anything(out: str | Path, *, seed: int = 0, metric: bool = False) -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(image_size=42, out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False, **TINY_DINOV2)
    cfg = DepthAnythingConfig(backbone_config=backbone.to_dict(), reassemble_hidden_size=32,
                              neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8,
                              depth_estimation_type="metric" if metric else "relative", max_depth=20 if metric else 1)
    torch.manual_seed(seed)
    return _save(DepthAnythingForDepthEstimation(cfg), DA_PREPROCESSOR, Path(out))


def build_tiny_depth_pro(out: str | Path, *, seed: int = 0, use_fov_model: bool = True,
                         fov_deg: float | None = 55.0) -> Path:
    """``fov_deg``: make the FOV head output exactly this (last conv zeroed, bias = fov), so tests can check
    intrinsics taken from the model; None keeps the random head (usually a nonsense FOV)."""
    from transformers import DepthProConfig, DepthProForDepthEstimation

    vit = dict(model_type="dinov2", image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
               num_attention_heads=2, intermediate_size=64)
    cfg = DepthProConfig(patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
                         intermediate_feature_dims=[16, 16], scaled_images_ratios=[0.5, 1],
                         scaled_images_overlap_ratios=[0.0, 0.25], scaled_images_feature_dims=[16, 16],
                         merge_padding_value=1, use_fov_model=use_fov_model, num_fov_head_layers=1,
                         image_model_config=dict(vit), patch_model_config=dict(vit), fov_model_config=dict(vit))
    torch.manual_seed(seed)
    model = DepthProForDepthEstimation(cfg)
    if use_fov_model and fov_deg is not None:
        last = model.fov_model.head.layers[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(fov_deg)
    return _save(model, DP_PREPROCESSOR, Path(out))
