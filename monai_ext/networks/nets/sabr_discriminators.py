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

"""The two discriminators of SABR-Net's adversarial pretraining (stage 1).

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``), which
describe the released code (a SemanticGAN fork):

- :class:`SABRImageDiscriminator` (``D_img``): the StyleGAN2 discriminator in the rosinality layout. 1x1 conv
  3 -> 128, then ``log2(size) - 2`` residual down-sampling blocks (3x3 conv; 3x3 conv with blur + stride 2; 1x1
  blurred stride-2 skip without bias; sum / sqrt(2)), minibatch standard deviation (group 4, 1 feature), 3x3 conv,
  FC(512 * 4 * 4 -> 512, lrelu), FC(512 -> 1); equalised learning rate throughout. Channels per resolution
  ``min(channel_max, channel_base // res)`` (channel multiplier 2: 128 at 256 px, 256 at 128, 512 below).
  28,864,129 parameters at 256 px.
- :class:`SABRMaskDiscriminator` (``D_seg``): the pix2pixHD / SPADE multiscale PatchGAN on ``cat[image, mask]``.
  Three scales (the input down-sampled with AvgPool 3x3, stride 2, padding 1, ``count_include_pad=False``); each
  scale: conv4x4 s2 -> 64 + LReLU(0.2); [spectral-norm conv4x4 s2 -> 128 (no bias), InstanceNorm (no affine),
  LReLU]; [SN conv s2 -> 256, IN, LReLU]; [SN conv s1 -> 512, IN, LReLU]; conv4x4 s1 -> 1 (padding 2 everywhere).
  Every layer output of every scale is returned (feature matching). 8,297,667 parameters with 5 input channels
  (image + 2 classes). This is not MONAI's ``MultiScalePatchDiscriminator``, which deepens the network per scale
  instead of down-sampling the input.

Deviations: the minibatch standard deviation uses the largest group that divides the batch (the public layer fails
otherwise); the convolutions of ``D_seg`` keep PyTorch's default initialisation (the public initialisation is not
documented); spectral norm uses ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training
forward, as ``torch.nn.utils.spectral_norm``).
"""

from __future__ import annotations

import math
from typing import List

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from monai_ext.networks.arg_checks import check_input_tensor, check_positive_int, check_spatial_dims
from monai_ext.networks.blocks.stylegan_ops import Conv2dLayer, FullyConnectedLayer, MinibatchStdDev

__all__ = ["SABRDiscriminatorResBlock", "SABRImageDiscriminator", "SABRMaskDiscriminator"]


class SABRDiscriminatorResBlock(nn.Module):
    """Residual down-sampling block of the StyleGAN2 discriminator: ``(conv2(conv1(x)) + skip(x)) / sqrt(2)``.

    Args:
        in_channels: input channels.
        out_channels: output channels (resolution halved).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = Conv2dLayer(in_channels, in_channels, 3, activation="lrelu")
        self.conv2 = Conv2dLayer(in_channels, out_channels, 3, activation="lrelu", down=2)
        self.skip = Conv2dLayer(in_channels, out_channels, 1, bias=False, activation="linear", down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) * (1.0 / math.sqrt(2.0))


class SABRImageDiscriminator(nn.Module):
    """StyleGAN2 image discriminator ``D_img`` (rosinality layout), one logit per image.

    Args:
        spatial_dims: must be 2.
        in_channels: image channels (3).
        img_size: input side, a power of two >= 8 (256).
        channel_base: channels at resolution ``r`` are ``min(channel_max, channel_base // r)``; 32768 is rosinality's
            channel multiplier 2 (use e.g. 2048 with ``channel_max=64`` for narrow CPU presets).
        channel_max: maximal channels (512).
        mbstd_group_size: group size of the minibatch standard deviation (4).
        mbstd_num_features: its number of features (1).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        img_size: int = 256,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        mbstd_num_features: int = 1,
    ) -> None:
        super().__init__()
        name = "SABRImageDiscriminator"
        check_spatial_dims(name, spatial_dims)
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        check_positive_int(name, "img_size", img_size)
        if img_size < 8 or img_size & (img_size - 1) != 0:
            raise ValueError(f"{name}: img_size must be a power of two >= 8, got {img_size!r}.")
        check_positive_int(name, "channel_base", channel_base)
        check_positive_int(name, "channel_max", channel_max)
        self.img_size = img_size

        def ch(res: int) -> int:
            c = min(channel_max, channel_base // res)
            if c < 1:
                raise ValueError(f"{name}: channel_base {channel_base} gives no channels at {res} px; increase it.")
            return c

        self.from_rgb = Conv2dLayer(in_channels, ch(img_size), 1, activation="lrelu")
        res_log2 = int(math.log2(img_size))
        self.blocks = nn.Sequential(
            *[SABRDiscriminatorResBlock(ch(2**r), ch(2 ** (r - 1))) for r in range(res_log2, 2, -1)]
        )
        self.mbstd = MinibatchStdDev(mbstd_group_size, mbstd_num_features)
        self.final_conv = Conv2dLayer(ch(4) + mbstd_num_features, ch(4), 3, activation="lrelu")
        self.final_fc = FullyConnectedLayer(ch(4) * 4 * 4, ch(4), activation="lrelu")
        self.out = FullyConnectedLayer(ch(4), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, in_channels, img_size, img_size). Returns (B, 1) logits (real > fake)."""
        check_input_tensor("SABRImageDiscriminator", x, self.in_channels)
        if x.shape[2] != self.img_size or x.shape[3] != self.img_size:
            raise ValueError(
                f"SABRImageDiscriminator: expected a {self.img_size}x{self.img_size} input (img_size), got "
                f"{x.shape[2]}x{x.shape[3]}."
            )
        x = self.blocks(self.from_rgb(x))
        x = self.final_conv(self.mbstd(x))
        return self.out(self.final_fc(x.flatten(1)))


class _PatchGANScale(nn.Module):
    """One scale of the mask discriminator: a list of layers whose outputs are all returned."""

    def __init__(self, in_channels: int, base_channels: int, num_layers: int, max_channels: int) -> None:
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(in_channels, base_channels, 4, 2, 2), nn.LeakyReLU(0.2))]
        nf = base_channels
        for n in range(1, num_layers):
            prev, nf = nf, min(nf * 2, max_channels)
            stride = 1 if n == num_layers - 1 else 2
            conv = spectral_norm(nn.Conv2d(prev, nf, 4, stride, 2, bias=False))
            layers.append(nn.Sequential(conv, nn.InstanceNorm2d(nf, affine=False), nn.LeakyReLU(0.2)))
        layers.append(nn.Sequential(nn.Conv2d(nf, 1, 4, 1, 2)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out


class SABRMaskDiscriminator(nn.Module):
    """Multiscale PatchGAN mask discriminator ``D_seg`` on ``cat[image, segmentation]``.

    Args:
        spatial_dims: must be 2.
        in_channels: image channels + segmentation channels (3 + C; 5 for two classes).
        num_scales: number of scales (3).
        base_channels: channels of the first layer (64), doubled per layer up to ``max_channels``.
        num_layers: intermediate layers per scale (4, i.e. 5 layers with the output conv).
        max_channels: channel cap (512).

    Returns (forward):
        one list per scale (full resolution first) of the ``num_layers + 1`` layer outputs; the last item of each list
        is the patch logit map, the others are the features for feature matching.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 5,
        num_scales: int = 3,
        base_channels: int = 64,
        num_layers: int = 4,
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        name = "SABRMaskDiscriminator"
        check_spatial_dims(name, spatial_dims)
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        check_positive_int(name, "num_scales", num_scales)
        check_positive_int(name, "base_channels", base_channels)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 2:
            raise ValueError(f"{name}: num_layers must be an int >= 2, got {num_layers!r}.")
        check_positive_int(name, "max_channels", max_channels)
        self.scales = nn.ModuleList(
            _PatchGANScale(in_channels, base_channels, num_layers, max_channels) for _ in range(num_scales)
        )

    def forward(self, x: torch.Tensor) -> List[List[torch.Tensor]]:
        """``x``: (B, in_channels, H, W), e.g. ``cat[image in [-1, 1], one-hot or softmax mask]``."""
        check_input_tensor("SABRMaskDiscriminator", x, self.in_channels)
        result = []
        for i, scale in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            result.append(scale(x))
        return result
