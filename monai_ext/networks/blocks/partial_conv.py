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

"""The "shadow-masked convolution" of SABR-Net: MAT's partial convolution (``Conv2dLayerPartial``).

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``). With a
hole mask ``m`` (B, 1, H, W; 1 = visible, 0 = hole):

- ``update = conv(m, ones(1, 1, k, k), stride=down, padding=k // 2)`` (number of visible pixels under each window);
- ``ratio = k**2 / (update + 1e-8) * clamp(update, 0, 1)``;
- ``out = Conv2dLayer(x) * ratio``: bias and activation are applied inside the equalised convolution, **before** the
  rescaling (MAT's order, not the Liu et al. partial convolution that rescales before the bias);
- ``new_mask = clamp(update, 0, 1)``: a window with at least one visible pixel becomes visible (holes shrink).

The input itself is not multiplied by the mask here (the caller zero-fills holes, see
:class:`~monai_ext.networks.nets.SABRMaskedEncoder`). With ``mask=None`` it is a plain :class:`Conv2dLayer`.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.blocks.stylegan_ops import Conv2dLayer

__all__ = ["Conv2dLayerPartial"]


class Conv2dLayerPartial(nn.Module):
    """Partial (mask-aware) equalised convolution returning ``(features, updated_mask)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size (3).
        bias: learned bias (applied before the activation and the mask rescaling).
        activation: ``"linear"`` or ``"lrelu"``.
        down: 1 or 2 (blur + stride-2 convolution; the mask is updated with stride 2).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        bias: bool = True,
        activation: str = "linear",
        down: int = 1,
    ) -> None:
        super().__init__()
        self.conv = Conv2dLayer(in_channels, out_channels, kernel_size, bias=bias, activation=activation, down=down)
        self.kernel_size, self.stride, self.padding = kernel_size, down, kernel_size // 2
        self.register_buffer("mask_kernel", torch.ones(1, 1, kernel_size, kernel_size), persistent=False)

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``x``: (B, in, H, W); ``mask``: (B, 1, H, W) in {0, 1} or None. Returns ``(out, new_mask)``."""
        out = self.conv(x)
        if mask is None:
            return out, None
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:]:
            raise ValueError(
                f"Conv2dLayerPartial: mask must have shape (B, 1, H, W) = {(x.shape[0], 1, *x.shape[2:])}, "
                f"got {tuple(mask.shape)}."
            )
        with torch.no_grad():
            update = F.conv2d(mask.to(x.dtype), self.mask_kernel.to(x.dtype), stride=self.stride, padding=self.padding)
            new_mask = update.clamp(0.0, 1.0)
            ratio = self.kernel_size**2 / (update + 1e-8) * new_mask
        return out * ratio, new_mask
