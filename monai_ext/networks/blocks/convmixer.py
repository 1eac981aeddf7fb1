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

"""ConvMixer bottleneck layers of CMU-Net, as used (three blocks of three layers) by MGCC and MSMO.

Re-implemented from FengheTan9/CMU-Net (``1a2bee86``; MIT) as described in docs/methods/mgcc.md, "Network". One layer is
``Residual(depthwise conv k×k -> GELU -> BN)`` followed by ``pointwise conv 1×1 -> GELU -> BN``; the residual wraps
only the depthwise part, there is no patch embedding and the resolution is unchanged. Note the order conv -> GELU ->
BN (activation before normalisation), as in the original ConvMixer. A layer of width 1024 and kernel 7 has 1,104,896
parameters.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import nn

__all__ = ["ConvMixerLayer", "ConvMixerBlock"]


def _check(name: str, spatial_dims: int, dim: int, kernel_size: int) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"{name}: spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{name}: dim must be a positive int, got {dim!r}.")
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{name}: kernel_size must be a positive odd int (padding k // 2), got {kernel_size!r}.")


class ConvMixerLayer(nn.Module):
    """One ConvMixer layer: ``pw(x + dw(x))`` with ``dw`` = depthwise conv-GELU-BN and ``pw`` = 1×1 conv-GELU-BN.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        dim: number of channels (unchanged).
        kernel_size: odd depthwise kernel size. Default 7.
    """

    def __init__(self, spatial_dims: int, dim: int, kernel_size: int = 7) -> None:
        super().__init__()
        _check("ConvMixerLayer", spatial_dims, dim, kernel_size)
        self.depthwise = Convolution(
            spatial_dims, dim, dim, kernel_size=kernel_size, groups=dim, act="gelu", norm="batch", adn_ordering="AN"
        )
        self.pointwise = Convolution(spatial_dims, dim, dim, kernel_size=1, act="gelu", norm="batch", adn_ordering="AN")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(x + self.depthwise(x))


class ConvMixerBlock(nn.Sequential):
    """``depth`` ConvMixer layers in sequence (CMU-Net uses one block of depth 7; MGCC three blocks of depth 3).

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        dim: number of channels (unchanged).
        depth: number of layers, a positive int.
        kernel_size: odd depthwise kernel size. Default 7.
    """

    def __init__(self, spatial_dims: int, dim: int, depth: int, kernel_size: int = 7) -> None:
        super().__init__()
        _check("ConvMixerBlock", spatial_dims, dim, kernel_size)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"ConvMixerBlock: depth must be a positive int, got {depth!r}.")
        for i in range(depth):
            self.add_module(f"layer_{i}", ConvMixerLayer(spatial_dims, dim, kernel_size))
