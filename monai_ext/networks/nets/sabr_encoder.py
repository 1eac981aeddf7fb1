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

"""The shadow-masked encoder of SABR-Net, down to and including the middle stage (shared by generator B and model C).

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``), which
describe the released SABR-Net code (Swecamellia/semi-supervised-shadow-aware-network, MAT lineage). At a 256 px input
and the defaults:

=============  =====================================================================  ===========================
step           operation                                                              output
=============  =====================================================================  ===========================
conv_first     partial conv 3 -> 128, 3x3, lrelu, with the hole mask                  256^2 x 128 (skip 0)
enc_conv[0]    partial conv 128 -> 128, 3x3, stride 2                                 128^2 x 128 (skip 1)
enc_conv[1]    partial conv 128 -> 128, 3x3, stride 2                                 64^2 x 128
stages[0]      2 Swin blocks, window 8 (shift 4), 8 heads, **masked**                 64^2 x 128 (skip 2)
stages[1]      patch merging + 3 blocks, window 16 (shift 8), **masked**              32^2 x 128 (skip 3)
stages[2]      patch merging + 4 blocks, window 16 (global at 16^2), mask = None      16^2 x 128 (middle)
=============  =====================================================================  ===========================

2,520,448 parameters at the defaults: the frozen encoder of model C and the perceptual feature encoder E of the
``warmup_snapshot`` option. Generator B adds the up-sampling stages, the style path and the decoders
(:class:`~monai_ext.networks.nets.SABRGenerator`).

Project decision (SABR bundle docs): holes are zero-filled in the input (``x * mask``) before the partial convolutions;
``leak_hole_ring=True`` feeds the raw image as the public code does (hole content then leaks through the one-pixel
ring where a 3x3 window straddles the hole border).
"""

from __future__ import annotations

import copy
from typing import List, Optional, Sequence

import torch
from torch import nn

from monai_ext.networks.arg_checks import (
    check_input_tensor,
    check_int_sequence,
    check_non_negative_int,
    check_positive_int,
    check_spatial_dims,
)
from monai_ext.networks.blocks.partial_conv import Conv2dLayerPartial
from monai_ext.networks.blocks.window_attention import MaskedSwinStage

__all__ = ["SABRMaskedEncoder", "check_sabr_token_sizes"]


def check_sabr_token_sizes(
    owner: str, h: int, w: int, num_downsamples: int, window_sizes: Sequence[int], resample: Sequence[int]
) -> None:
    """Raise a readable error unless an ``h`` x ``w`` input fits the convolutions and windows of the stages.

    Args:
        owner: network name for the message.
        h: input height.
        w: input width.
        num_downsamples: stride-2 convolutions before the first stage.
        window_sizes: window of every stage.
        resample: per stage -1 (down), 0 or +1 (up).
    """
    depth_down = num_downsamples + sum(1 for r in resample if r < 0)
    factor = 2**depth_down
    if h % factor != 0 or w % factor != 0:
        raise ValueError(f"{owner}: height and width must be divisible by {factor}, got {h}x{w}.")
    th, tw = h // 2**num_downsamples, w // 2**num_downsamples
    for i, (window, r) in enumerate(zip(window_sizes, resample)):
        th, tw = (th // 2, tw // 2) if r < 0 else ((th * 2, tw * 2) if r > 0 else (th, tw))
        win = min(th, tw) if min(th, tw) <= window else window
        if th % win != 0 or tw % win != 0:
            raise ValueError(
                f"{owner}: the input {h}x{w} gives a {th}x{tw} token map at stage {i}, not a multiple of its window "
                f"{win}; use sizes whose token maps are multiples of the windows (powers of two such as 64, 128 or "
                "256 px work)."
            )


class SABRMaskedEncoder(nn.Module):
    """Partial-convolution stem and masked Swin stages of SABR-Net, down to the middle stage.

    Every stage but the last receives the hole mask (hole-aware attention, mask updates); the last (middle) stage runs
    without it. With ``mask=None`` (model C, finetuning on real images) the whole encoder is unmasked.

    Args:
        spatial_dims: must be 2.
        in_channels: image channels (3: grey ultrasound replicated).
        dim: width of every layer (128).
        num_heads: attention heads (8).
        depths: Swin blocks per stage (2, 3, 4); stages after the first start with a patch merging (stride 2).
        window_sizes: window side per stage (8, 16, 16).
        num_downsamples: stride-2 partial convolutions after ``conv_first`` (2: 256 px -> 64^2 tokens).
        mlp_ratio: MLP width of the Swin blocks relative to ``dim`` (2).
        leak_hole_ring: feed the raw image to the partial convolutions instead of zero-filling holes (public code).

    Returns (forward):
        the list ``[conv_first, enc_conv[0], ..., enc_conv[-1], stages[0], ..., stages[-1]]`` of feature maps
        (B, dim, h, w), shallowest first.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        dim: int = 128,
        num_heads: int = 8,
        depths: Sequence[int] = (2, 3, 4),
        window_sizes: Sequence[int] = (8, 16, 16),
        num_downsamples: int = 2,
        mlp_ratio: float = 2.0,
        leak_hole_ring: bool = False,
    ) -> None:
        super().__init__()
        name = "SABRMaskedEncoder"
        check_spatial_dims(name, spatial_dims)
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        self.dim = check_positive_int(name, "dim", dim)
        check_positive_int(name, "num_heads", num_heads)
        if dim % num_heads != 0:
            raise ValueError(f"{name}: dim ({dim}) must be divisible by num_heads, got {num_heads!r}.")
        self.depths = check_int_sequence(name, "depths", depths)
        self.window_sizes = check_int_sequence(name, "window_sizes", window_sizes, length=len(self.depths))
        self.num_downsamples = check_non_negative_int(name, "num_downsamples", num_downsamples)
        self.leak_hole_ring = bool(leak_hole_ring)
        self.conv_first = Conv2dLayerPartial(in_channels, dim, 3, activation="lrelu")
        self.enc_conv = nn.ModuleList(
            Conv2dLayerPartial(dim, dim, 3, activation="lrelu", down=2) for _ in range(num_downsamples)
        )
        self.stages = nn.ModuleList(
            MaskedSwinStage(dim, d, num_heads, ws, resample=None if i == 0 else "down", mlp_ratio=mlp_ratio)
            for i, (d, ws) in enumerate(zip(self.depths, self.window_sizes))
        )

    @property
    def downsample_factor(self) -> int:
        """Total down-sampling from the input to the last stage (16 at the defaults)."""
        return 2 ** (self.num_downsamples + len(self.depths) - 1)

    def check_input(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None, owner: str = "SABRMaskedEncoder"):
        """Raise a readable ``ValueError`` unless ``x`` (and ``mask``) fit the encoder."""
        check_input_tensor(owner, x, self.in_channels)
        resample = [0] + [-1] * (len(self.depths) - 1)
        check_sabr_token_sizes(owner, x.shape[2], x.shape[3], self.num_downsamples, self.window_sizes, resample)
        if mask is not None and (
            not isinstance(mask, torch.Tensor) or mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0]
            or mask.shape[2:] != x.shape[2:]
        ):
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"{owner}: expected a hole mask of shape {(x.shape[0], 1, *x.shape[2:])}, got {shape}.")

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        """``x``: (B, in_channels, H, W) in [-1, 1]; ``mask``: (B, 1, H, W), 1 = visible, 0 = hole, or None."""
        self.check_input(x, mask)
        if mask is not None:
            mask = mask.to(x.dtype)
            if not self.leak_hole_ring:
                x = x * mask
        x, mask = self.conv_first(x, mask)
        feats = [x]
        for conv in self.enc_conv:
            x, mask = conv(x, mask)
            feats.append(x)
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            x, mask = stage(x, mask if i < last else None)
            feats.append(x)
        return feats

    def feature_taps(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        """The perceptual / style-loss taps: the map after ``enc_conv`` and the output of every stage.

        At the defaults: 64^2, 64^2, 32^2 and 16^2 maps of ``dim`` channels (the four feature sets of the public
        frozen encoder, at dim 128 instead of 180).
        """
        return self.forward(x, mask)[self.num_downsamples :]

    def frozen_copy(self) -> "SABRMaskedEncoder":
        """A deep copy in evaluation mode with every parameter frozen (the ``warmup_snapshot`` feature encoder E)."""
        snapshot = copy.deepcopy(self).eval()
        snapshot.requires_grad_(False)
        return snapshot
