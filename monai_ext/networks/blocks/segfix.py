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

"""SegFix-style boundary refinement of SABR-Net's model C: boundary / direction heads and the offset refinement.

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``), after
SegFix (Yuan et al., ECCV 2020, openseg.pytorch) as used by the released SABR-Net code:

- :class:`SegFixHeads`: the input feature maps are bilinearly resized (``align_corners=True``) to the last one and
  concatenated; ``mask_head`` = 1x1 conv (no bias) + BN + ReLU + 1x1 conv -> 2 boundary logits (no bias);
  ``dir_head`` = the same layout -> 8 direction logits. 67,328 parameters at 256 input channels.
- :class:`SegFixOffsetRefinement` (no parameters): a pixel is a boundary pixel when the **softmax** boundary
  probability exceeds 0.5 (the public code thresholds the raw logit); its direction is the argmax of the direction
  logits, mapped to a unit 8-neighbour offset (:data:`SEGFIX_DIRECTION_OFFSETS`, pointing toward the segment interior);
  off-boundary offsets are 0; the refined logits are ``grid_sample(coarse, coords + offset, bilinear, border padding,
  align_corners=True)``: every boundary pixel takes the logits of its neighbour one pixel along its direction. The
  public code then rounds the sampled logits (zero gradient); here they are not rounded, so the refined branch's loss
  reaches the coarse logits through the gather (the offsets themselves are not differentiable).

All operations are tensor operations without data-dependent Python control flow (ONNX-exportable).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.arg_checks import check_positive_int

__all__ = ["SEGFIX_DIRECTION_OFFSETS", "SegFixHeads", "SegFixOffsetRefinement"]

#: Unit (dy, dx) offsets of the 8 SegFix directions; direction k is the angle -180 + 45 * k degrees of atan2(dy, dx)
#: in image coordinates (rows pointing down). Targets built with ``k = round((theta + pi) / (pi / 4)) mod 8`` match it.
SEGFIX_DIRECTION_OFFSETS: Tuple[Tuple[int, int], ...] = (
    (0, -1),
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
    (1, 0),
    (1, -1),
)


def _head(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, 1, bias=False),
        nn.BatchNorm2d(mid_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, 1, bias=False),
    )


class SegFixHeads(nn.Module):
    """Boundary (2-way) and direction (8-way) heads on concatenated decoder features.

    Args:
        in_channels: channels after concatenating the input maps (256 in model C: two 128-channel decoder blocks).
        mid_channels: hidden channels of each head (128).
        num_directions: direction classes (8).
    """

    def __init__(self, in_channels: int = 256, mid_channels: int = 128, num_directions: int = 8) -> None:
        super().__init__()
        check_positive_int("SegFixHeads", "in_channels", in_channels)
        check_positive_int("SegFixHeads", "mid_channels", mid_channels)
        check_positive_int("SegFixHeads", "num_directions", num_directions)
        self.in_channels = in_channels
        self.mask_head = _head(in_channels, mid_channels, 2)
        self.dir_head = _head(in_channels, mid_channels, num_directions)

    def forward(self, features: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """``features``: maps resized to the last one's size and concatenated. Returns (boundary, direction) logits."""
        size = features[-1].shape[2:]
        maps = [
            f if f.shape[2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=True)
            for f in features
        ]
        x = torch.cat(maps, dim=1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"SegFixHeads: expected {self.in_channels} concatenated channels, got {x.shape[1]}.")
        return self.mask_head(x), self.dir_head(x)


class SegFixOffsetRefinement(nn.Module):
    """Move every predicted boundary pixel's logits one pixel along its predicted direction (no parameters).

    Args:
        threshold: boundary-probability threshold (0.5).
    """

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.register_buffer("direction_offsets", torch.tensor(SEGFIX_DIRECTION_OFFSETS, dtype=torch.float32),
                             persistent=False)

    def offsets(self, boundary_logits: torch.Tensor, direction_logits: torch.Tensor) -> torch.Tensor:
        """(B, 2, H, W) offsets ``(dy, dx)`` in pixels: unit 8-neighbour steps on boundary pixels, 0 elsewhere."""
        edge = boundary_logits.softmax(dim=1)[:, 1] > self.threshold  # (B, H, W)
        k = direction_logits.argmax(dim=1)  # argmax of the softmax = argmax of the logits
        off = F.embedding(k, self.direction_offsets.to(boundary_logits.dtype))  # (B, H, W, 2)
        off = off * edge.unsqueeze(-1).to(off.dtype)
        return off.permute(0, 3, 1, 2)

    def forward(
        self, coarse_logits: torch.Tensor, boundary_logits: torch.Tensor, direction_logits: torch.Tensor
    ) -> torch.Tensor:
        """Refined logits (B, C, H, W) from coarse (B, C, H, W), boundary (B, 2, H, W), direction (B, 8, H, W)."""
        h, w = coarse_logits.shape[2], coarse_logits.shape[3]
        if h < 2 or w < 2:
            raise ValueError(f"SegFixOffsetRefinement: needs maps of at least 2x2 pixels, got {h}x{w}.")
        off = self.offsets(boundary_logits, direction_logits)
        ys = torch.arange(h, device=off.device, dtype=off.dtype).reshape(1, h, 1)
        xs = torch.arange(w, device=off.device, dtype=off.dtype).reshape(1, 1, w)
        gy = (ys + off[:, 0]) * (2.0 / (h - 1)) - 1.0
        gx = (xs + off[:, 1]) * (2.0 / (w - 1)) - 1.0
        grid = torch.stack([gx, gy], dim=-1).to(coarse_logits.dtype)
        return F.grid_sample(coarse_logits, grid, mode="bilinear", padding_mode="border", align_corners=True)
