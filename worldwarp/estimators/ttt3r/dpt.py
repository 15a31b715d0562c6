"""The DPT head of CUT3R (CroCo's DPT output adapter as DUSt3R uses it), with the released checkpoint's names.

Four token maps (encoder output and three decoder layers) are reassembled at strides 4, 8, 16 and 32, projected to
256 channels, fused coarse to fine, and upsampled to full resolution. The authors' head fixes the widths
(feature 256, layers 96/192/384/768) whatever the transformer's width; stand-ins may shrink them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn



class ResidualConvUnit(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(ch, ch, 1)
        self.resConfUnit1, self.resConfUnit2 = ResidualConvUnit(ch), ResidualConvUnit(ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = F.interpolate(self.resConfUnit2(x), scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Scratch(nn.Module):
    def __init__(self, layer_dims: tuple[int, ...], feature: int) -> None:
        super().__init__()
        for i, d in enumerate(layer_dims, 1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(d, feature, 3, padding=1, bias=False))
        # the same four convolutions again under a list: the released state dict holds both names
        self.layer_rn = nn.ModuleList([getattr(self, f"layer{i}_rn") for i in range(1, 5)])
        for i in range(1, 5):
            setattr(self, f"refinenet{i}", FusionBlock(feature))


class UpsampleHead(nn.Sequential):
    def __init__(self, feature: int, out_channels: int) -> None:
        half = feature // 2
        super().__init__(nn.Conv2d(feature, half, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear",
                         align_corners=True), nn.Conv2d(half, half, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(half, out_channels, 1))


class DPTHead(nn.Module):
    def __init__(self, token_dims: tuple[int, int, int, int], out_channels: int, patch: int = 16,
                 feature: int = 256, layer_dims: tuple[int, ...] = (96, 192, 384, 768)) -> None:
        super().__init__()
        self.patch = patch
        d0, d1, d2, d3 = layer_dims
        self.act_postprocess = nn.ModuleList([
            nn.Sequential(nn.Conv2d(token_dims[0], d0, 1), nn.ConvTranspose2d(d0, d0, 4, stride=4)),
            nn.Sequential(nn.Conv2d(token_dims[1], d1, 1), nn.ConvTranspose2d(d1, d1, 2, stride=2)),
            nn.Sequential(nn.Conv2d(token_dims[2], d2, 1)),
            nn.Sequential(nn.Conv2d(token_dims[3], d3, 1), nn.Conv2d(d3, d3, 3, stride=2, padding=1)),
        ])
        self.scratch = Scratch(layer_dims, feature)
        self.head = UpsampleHead(feature, out_channels)

    def forward(self, tokens: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        nh, nw = size[0] // self.patch, size[1] // self.patch
        maps = [t.transpose(1, 2).unflatten(2, (nh, nw)) for t in tokens]
        maps = [rn(act(m)) for m, act, rn in zip(maps, self.act_postprocess, self.scratch.layer_rn)]
        s = self.scratch
        x = s.refinenet4(maps[3])[:, :, :maps[2].shape[2], :maps[2].shape[3]]
        x = s.refinenet3(x, maps[2])
        x = s.refinenet2(x, maps[1])
        return self.head(s.refinenet1(x, maps[0]))
