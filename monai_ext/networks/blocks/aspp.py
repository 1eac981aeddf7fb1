# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Atrous spatial pyramid pooling of SABR-Net's model C (DeepLabV3+-style, depthwise-separable branches).

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``): on the
16^2 x 128 middle map of the frozen encoder, five branches — 1x1 conv + BN + ReLU; three depthwise-separable 3x3 convs
with dilations 12 / 24 / 36 (+ BN + ReLU); image pooling (global average -> 1x1 conv + BN + ReLU, broadcast back) —
concatenated (5 x 128) -> 1x1 conv -> 128 + BN + ReLU + Dropout(0.5) -> separable 3x3 conv + BN + ReLU. All
convolutions without bias. 186,624 parameters at 128 channels. Dilations of 12-36 on a 16^2 map see mostly zero
padding; this is the public design and is kept.

MONAI's ``SimpleASPP`` has no pooling branch, no separable convolutions and no projection dropout, hence this block.
The pooled branch is broadcast with ``expand`` (identical to the public bilinear up-sampling of a 1x1 map).
"""

from __future__ import annotations

from typing import Sequence

import torch
from monai.networks.blocks import Convolution
from torch import nn

from monai_ext.networks.arg_checks import check_int_sequence, check_positive_int, check_probability

__all__ = ["DepthwiseSeparableConv2d", "SABRASPP"]

_RELU = ("relu", {"inplace": True})


class DepthwiseSeparableConv2d(nn.Sequential):
    """Depthwise ``k x k`` convolution (no bias) followed by a pointwise 1x1 convolution.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: depthwise kernel size.
        padding: zero padding of the depthwise convolution.
        dilation: dilation of the depthwise convolution.
        bias: bias of the pointwise convolution.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1, dilation: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, dilation=dilation, groups=in_channels,
                      bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=bias),
        )


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class _PoolingBranch(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = Convolution(2, in_channels, out_channels, kernel_size=1, bias=False, norm="batch", act=_RELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x)).expand(-1, -1, x.shape[2], x.shape[3])


class SABRASPP(nn.Module):
    """ASPP with separable dilated branches, image pooling, projection with dropout and a separable 3x3 output conv.

    Args:
        in_channels: input channels (128).
        out_channels: channels of every branch and of the output (128).
        dilations: dilations of the three separable branches (12, 24, 36).
        dropout: dropout after the projection (0.5).

    Note:
        The pooling branch applies BatchNorm to (B, C, 1, 1) maps, so training needs a batch of at least 2.
    """

    def __init__(
        self, in_channels: int = 128, out_channels: int = 128, dilations: Sequence[int] = (12, 24, 36),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_positive_int("SABRASPP", "in_channels", in_channels)
        check_positive_int("SABRASPP", "out_channels", out_channels)
        dilations = check_int_sequence("SABRASPP", "dilations", dilations)
        dropout = check_probability("SABRASPP", "dropout", dropout)
        branches = [Convolution(2, in_channels, out_channels, kernel_size=1, bias=False, norm="batch", act=_RELU)]
        for d in dilations:
            branches.append(
                nn.Sequential(DepthwiseSeparableConv2d(in_channels, out_channels, 3, d, d), _bn_relu(out_channels))
            )
        branches.append(_PoolingBranch(in_channels, out_channels))
        self.branches = nn.ModuleList(branches)
        n = len(branches)
        self.project = nn.Sequential(
            nn.Conv2d(n * out_channels, out_channels, 1, bias=False), _bn_relu(out_channels), nn.Dropout(dropout)
        )
        self.out_conv = nn.Sequential(
            DepthwiseSeparableConv2d(out_channels, out_channels, 3, 1, 1), _bn_relu(out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_conv(self.project(torch.cat([b(x) for b in self.branches], dim=1)))
