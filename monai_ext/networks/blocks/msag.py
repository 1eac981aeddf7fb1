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

"""Multi-scale attention gate (MSAG) of CMU-Net, used on the skip connections of MGCC and MSMO.

Re-implemented from FengheTan9/CMU-Net (``1a2bee86``; MIT) as described in docs/methods/mgcc.md, "Network": three
parallel branches on ``x`` (1×1 conv + BN, 3×3 conv + BN, 3×3 conv with dilation 2 + BN), concatenated (3C), ReLU, a 1×1
"vote" conv (3C → C) + BN, sigmoid gate ``g``; output ``x + x * g``. MSAG(64) has 90,880 parameters.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import nn

from monai_ext.networks.blocks.dense_gradient import dense_gradient

__all__ = ["MSAGBlock"]


class MSAGBlock(nn.Module):
    """Multi-scale attention gate: ``x + x * sigmoid(BN(conv1x1(ReLU(cat[b1(x), b3(x), b3d2(x)]))))``.

    The output has the shape of the input. All convolutions have a bias (as CMU-Net).

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        channels: number of channels C of the gated feature map.
    """

    def __init__(self, spatial_dims: int, channels: int) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"MSAGBlock: spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"MSAGBlock: channels must be a positive int, got {channels!r}.")
        self.channels = channels

        def branch(kernel_size: int, dilation: int) -> Convolution:
            # act=None: MONAI's Convolution would otherwise add its default PReLU
            return Convolution(
                spatial_dims, channels, channels, kernel_size=kernel_size, dilation=dilation, act=None, norm="batch"
            )

        self.pointwise = branch(1, 1)
        self.ordinary = branch(3, 1)
        self.dilated = branch(3, 2)
        self.relu = nn.ReLU(inplace=True)
        self.vote = Convolution(
            spatial_dims, 3 * channels, channels, kernel_size=1, norm="batch", act="sigmoid", adn_ordering="NA"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and x.shape[1] != self.channels:
            raise ValueError(f"MSAGBlock: expected {self.channels} input channels, got shape {list(x.shape)}.")
        # dense gradients for the branch batch norms: their backward is slow on channel slices (see dense_gradient)
        branches = [self.pointwise(x), self.ordinary(x), self.dilated(x)]
        multi_scale = torch.cat([dense_gradient(b) for b in branches], dim=1)
        gate = self.vote(self.relu(multi_scale))
        # x + x * g in one kernel; the sigmoid already keeps g for its own backward, so nothing extra is stored
        return torch.addcmul(x, x, gate)
