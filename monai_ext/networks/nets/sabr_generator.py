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

"""Generator B of SABR-Net: shadow-masked encoder, style path and two style-modulated decoders.

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``); the
released code ships this network only in compiled form (``model.cpython-39.pyc``, "version B": dim 128, 8 heads,
3-channel input, two decoders). At 256 px and the defaults:

- encoder (:class:`~monai_ext.networks.nets.SABRMaskedEncoder`): partial-conv stem and stages 0-2 (masked 0-1);
- ``up_stages``: stage 3 (patch up-sampling + 3 blocks, window 16) ``+ skip`` of stage 1, stage 4 (up-sampling +
  2 blocks, window 8) ``+ skip`` of stage 0 (U-shaped token skips, unmasked), giving the 64^2 x 128 decoder input;
- style: ``gs = FC(128 -> 256, lrelu)(GAP(down_conv(middle)))`` with ``down_conv`` = 4 x (3x3 conv, stride 2, lrelu)
  on the 16^2 middle map; ``ws = FC(512 -> 128, lrelu)(w[:, -1])`` from the 8-layer mapping network;
  ``style = cat[gs, ws]`` (384 = 3 x dim);
- ``dec_image`` (inpainting) and ``dec_seg`` (segmentation): 2 x DecStyleBlock (64 -> 128 + skip 1, 128 -> 256 + skip
  0) with StyleGAN2 skip outputs; ToRGB -> 3 channels (image in [-1, 1], no activation) and -> C logits.

``forward(x, mask=None, ws=None)`` returns ``(image, seg_logits, seg_features)`` (no compositing). Without ``ws`` the
latent is drawn from the mapping network at every call in training and is the tracked average w otherwise
(deterministic validation and inference; project decision, the public code draws z at every call). Pass ``ws``
(e.g. from :meth:`SABRGenerator.sample_ws`, with ``requires_grad``) for the path-length regulariser.

Parameters at the defaults: 8,498,698 with C = 2 classes and 8,499,214 with C = 4 (encoder with all five stages and
``down_conv`` 4,525,440; segmentation decoder 886,532 at C = 2; image decoder 886,790; style FCs 98,688; mapping
2,101,248).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from monai_ext.networks.arg_checks import check_int_sequence, check_positive_int, check_spatial_dims
from monai_ext.networks.blocks.style_blocks import DecStyleBlock, MappingNet
from monai_ext.networks.blocks.stylegan_ops import Conv2dLayer, FullyConnectedLayer
from monai_ext.networks.blocks.window_attention import MaskedSwinStage
from monai_ext.networks.nets.sabr_encoder import SABRMaskedEncoder, check_sabr_token_sizes

__all__ = ["SABRStyleDecoder", "SABRGenerator"]


class SABRStyleDecoder(nn.Module):
    """Style-modulated decoder of generator B: ``num_blocks`` :class:`DecStyleBlock` doubling the resolution.

    Args:
        dim: feature channels (constant).
        style_dim: style vector dimension (3 x dim in SABR-Net).
        out_channels: output channels (3 for the inpainted image, C for segmentation logits).
        num_blocks: number of x2 blocks (2: 64 -> 256).
    """

    def __init__(self, dim: int, style_dim: int, out_channels: int, num_blocks: int = 2) -> None:
        super().__init__()
        check_positive_int("SABRStyleDecoder", "num_blocks", num_blocks)
        self.blocks = nn.ModuleList(DecStyleBlock(dim, dim, style_dim, out_channels) for _ in range(num_blocks))

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, skips: Sequence[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``skips``: one map per block, deepest first. Returns ``(output, last_features)``."""
        if len(skips) != len(self.blocks):
            raise ValueError(f"SABRStyleDecoder: expected {len(self.blocks)} skips, got {len(skips)}.")
        out: Optional[torch.Tensor] = None
        for block, skip in zip(self.blocks, skips):
            x, out = block(x, out, style, skip)
        assert out is not None
        return out, x


class SABRGenerator(nn.Module):
    """SABR-Net generator B (pretraining stages 0, 1 and finetuning stage 2a).

    Args:
        spatial_dims: must be 2.
        in_channels: image channels (3); also the channels of the inpainted output.
        out_channels: segmentation classes including background (2 for one structure).
        img_size: input side in pixels (256); sets the number of ``down_conv`` layers (log2 of the middle map side).
        dim: width of every layer (128); the style dimension is ``3 * dim``.
        num_heads: attention heads (8).
        depths: blocks of the five U-shaped stages (2, 3, 4, 3, 2); an odd number of stages.
        window_sizes: window side per stage (8, 16, 16, 16, 8).
        num_downsamples: stride-2 partial convolutions before the tokens (2), = decoder blocks per decoder.
        mlp_ratio: MLP width of the Swin blocks relative to ``dim`` (2).
        z_dim: mapping-network input dimension (512).
        w_dim: mapping-network output dimension (512).
        num_ws: broadcast copies of w (10; the last one is used).
        mapping_layers: FC layers of the mapping network (8).
        w_avg_beta: decay of the tracked average w (0.995).
        leak_hole_ring: feed the raw image instead of zero-filling holes (public-code behaviour).

    Examples::

        >>> g = SABRGenerator(img_size=64, dim=16, num_heads=2, z_dim=32, w_dim=32).eval()
        >>> image, seg, feats = g(torch.rand(2, 3, 64, 64) * 2 - 1, torch.ones(2, 1, 64, 64))
        >>> image.shape, seg.shape, feats.shape
        (torch.Size([2, 3, 64, 64]), torch.Size([2, 2, 64, 64]), torch.Size([2, 16, 64, 64]))
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 2,
        img_size: int = 256,
        dim: int = 128,
        num_heads: int = 8,
        depths: Sequence[int] = (2, 3, 4, 3, 2),
        window_sizes: Sequence[int] = (8, 16, 16, 16, 8),
        num_downsamples: int = 2,
        mlp_ratio: float = 2.0,
        z_dim: int = 512,
        w_dim: int = 512,
        num_ws: int = 10,
        mapping_layers: int = 8,
        w_avg_beta: float = 0.995,
        leak_hole_ring: bool = False,
    ) -> None:
        super().__init__()
        name = "SABRGenerator"
        check_spatial_dims(name, spatial_dims)
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        self.out_channels = check_positive_int(name, "out_channels", out_channels)
        self.img_size = check_positive_int(name, "img_size", img_size)
        check_positive_int(name, "dim", dim)
        depths = check_int_sequence(name, "depths", depths, odd_length=True)
        window_sizes = check_int_sequence(name, "window_sizes", window_sizes, length=len(depths))
        self.num_downsamples = check_positive_int(name, "num_downsamples", num_downsamples)
        mid = len(depths) // 2
        self._window_sizes = window_sizes
        self._resample = [0] + [-1] * mid + [1] * mid
        factor = 2 ** (num_downsamples + mid)
        if img_size % factor != 0:
            raise ValueError(f"{name}: img_size must be divisible by {factor} (total down-sampling), got {img_size}.")
        check_sabr_token_sizes(name, img_size, img_size, num_downsamples, window_sizes, self._resample)
        self.encoder = SABRMaskedEncoder(
            spatial_dims, in_channels, dim, num_heads, depths[: mid + 1], window_sizes[: mid + 1], num_downsamples,
            mlp_ratio, leak_hole_ring,
        )
        self.up_stages = nn.ModuleList(
            MaskedSwinStage(dim, depths[i], num_heads, window_sizes[i], resample="up", mlp_ratio=mlp_ratio)
            for i in range(mid + 1, len(depths))
        )
        n_down = int(math.floor(math.log2(img_size // factor)))  # down to 1x1 before the global average
        self.down_conv = nn.Sequential(
            *[Conv2dLayer(dim, dim, 3, activation="lrelu", down=2) for _ in range(n_down)], nn.AdaptiveAvgPool2d(1)
        )
        self.to_style = FullyConnectedLayer(dim, 2 * dim, activation="lrelu")
        self.ws_style = FullyConnectedLayer(w_dim, dim, activation="lrelu")
        self.mapping = MappingNet(z_dim, w_dim, num_ws, mapping_layers, w_avg_beta=w_avg_beta)
        self.style_dim = 3 * dim
        self.dec_image = SABRStyleDecoder(dim, self.style_dim, in_channels, num_downsamples)
        self.dec_seg = SABRStyleDecoder(dim, self.style_dim, out_channels, num_downsamples)

    def sample_ws(self, batch_size: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Latents (batch_size, num_ws, w_dim): a fresh draw in training mode, the tracked average w otherwise."""
        if self.training:
            return self.mapping.sample(batch_size, device)
        return self.mapping.average(batch_size)

    def _check_input(self, x: torch.Tensor, mask: Optional[torch.Tensor], ws: Optional[torch.Tensor]) -> None:
        self.encoder.check_input(x, mask, owner="SABRGenerator")
        if x.shape[2] != self.img_size or x.shape[3] != self.img_size:
            raise ValueError(
                f"SABRGenerator: expected a {self.img_size}x{self.img_size} input (img_size), got "
                f"{x.shape[2]}x{x.shape[3]}; build the generator with img_size={x.shape[2]} for this size."
            )
        expected = (x.shape[0], self.mapping.num_ws, self.mapping.w_dim)
        if ws is not None and tuple(ws.shape) != expected:
            raise ValueError(f"SABRGenerator: ws must have shape {expected}, got {tuple(ws.shape)}.")

    def forward(
        self, x: torch.Tensor, mask: Optional[torch.Tensor] = None, ws: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inpaint and segment.

        Args:
            x: (B, in_channels, img_size, img_size) image in [-1, 1].
            mask: (B, 1, img_size, img_size) hole mask (1 = visible, 0 = hole) or None (unmasked, stage 2a).
            ws: (B, num_ws, w_dim) latents, or None (see :meth:`sample_ws`).

        Returns:
            ``(image, seg_logits, seg_features)``: (B, in_channels, H, W), (B, out_channels, H, W) and the last
            segmentation-decoder features (B, dim, H, W).
        """
        self._check_input(x, mask, ws)
        if ws is None:
            ws = self.sample_ws(x.shape[0], x.device)
        feats = self.encoder(x, mask)
        nd = self.num_downsamples
        stage_out: List[torch.Tensor] = feats[nd + 1 :]  # outputs of the encoder's stages
        h = stage_out[-1]
        style = torch.cat([self.to_style(self.down_conv(h).flatten(1)), self.ws_style(ws[:, -1].to(h.dtype))], dim=1)
        n_stages = len(stage_out) + len(self.up_stages)
        for j, stage in enumerate(self.up_stages, start=len(stage_out)):
            h, _ = stage(h, None)
            h = h + stage_out[n_stages - 1 - j]
        skips = feats[nd - 1 :: -1][:nd]  # enc_conv[nd-2], ..., enc_conv[0], conv_first: deepest first
        image, _ = self.dec_image(h, style, skips)
        seg_logits, seg_features = self.dec_seg(h, style, skips)
        return image, seg_logits, seg_features
