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

"""The SSL4MIS 2D U-Net and its cross-consistency (CCT) variant, the small baseline backbones.

Re-implemented from HiLab-git/SSL4MIS ``code/networks/unet.py`` at commit ``06df6047`` (MIT; no code copied), see
docs/methods/evaluation.md, "Baselines":

- :class:`USUNet`: features 16-32-64-128-256; each stage is conv3×3-BN-LeakyReLU-Dropout-conv3×3-BN-LeakyReLU with
  dropout (0.05, 0.1, 0.2, 0.3, 0.5) from the shallowest to the deepest stage, 2×2 max-pooling between stages; each
  decoder step is a 1×1 convolution, bilinear ×2 upsampling (``align_corners=True``), concatenation
  ``[skip, upsampled]`` and a conv block without dropout; the head is a 3×3 convolution. 1.81 M parameters with one
  input channel (1,813,474 for 2 output channels).
- :class:`CCTUNet` (SSL4MIS ``UNet_CCT``): one encoder, a main decoder and three auxiliary decoders fed with
  perturbed copies of all five encoder features: aux1 = feature noise U(-0.3, 0.3), aux2 = dropout p = 0.3
  (elementwise), aux3 = feature dropout (SSL4MIS order). 3.71 M parameters (3,712,504 for 2 output channels).

Contract of every multi-decoder network of the package: in training mode ``forward(x)`` returns the tuple
``(main, aux1, aux2, aux3)`` of logits; in evaluation mode it returns only the main logits (one tensor), so that MONAI
inferers, ``verify_net_in_out`` and TorchScript export see a single-output network, and the auxiliary decoders are not
computed at inference. ``forward_all_heads(x)`` (evaluation mode only) returns all four heads on the clean features,
for the decoder-disagreement uncertainty map of ``docs/uncertainty.md``.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Conv, Pool
from torch import nn

from monai_ext.networks.blocks.perturbations import (
    DropoutPerturbation,
    FeatureDropoutPerturbation,
    FeatureNoisePerturbation,
    PerturbedDecoder,
)

__all__ = ["USUNetEncoder", "USUNetDecoder", "USUNet", "CCTUNet"]

# SSL4MIS uses nn.LeakyReLU() and nn.BatchNorm2d() with their PyTorch defaults
_ACT = ("leakyrelu", {"negative_slope": 0.01})
_NORM = "batch"


def _check_spatial_dims(name: str, spatial_dims: int) -> None:
    if spatial_dims != 2:
        raise ValueError(f"{name}: only spatial_dims=2 is supported (the SSL4MIS U-Net is 2D), got {spatial_dims!r}.")


def _check_positive_int(name: str, arg: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}.")


def _check_features(name: str, features: Sequence[int], dropout: Sequence[float]) -> Tuple[List[int], List[float]]:
    features, dropout = list(features), list(dropout)
    if len(features) != 5 or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in features):
        raise ValueError(f"{name}: features must be five positive ints, got {features!r}.")
    if len(dropout) != 5 or any(not 0.0 <= float(p) < 1.0 for p in dropout):
        raise ValueError(f"{name}: dropout must be five probabilities in [0, 1), got {dropout!r}.")
    return features, [float(p) for p in dropout]


def _check_input(name: str, x: torch.Tensor, in_channels: int, divisor: int) -> None:
    if torch.jit.is_tracing():  # shape checks would only add tracer warnings to a fixed-shape trace
        return
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{name}: expected input of shape (B, {in_channels}, H, W), got {list(x.shape)}.")
    if x.shape[2] % divisor != 0 or x.shape[3] % divisor != 0:
        raise ValueError(
            f"{name}: height and width must be divisible by {divisor} (four 2x2 poolings), got {list(x.shape[2:])}."
        )


class _USConvBlock(nn.Sequential):
    """conv3×3-BN-LeakyReLU-Dropout-conv3×3-BN-LeakyReLU (SSL4MIS ``ConvBlock``)."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        self.add_module(
            "conv_0",
            Convolution(
                spatial_dims,
                in_channels,
                out_channels,
                act=_ACT,
                norm=_NORM,
                # SSL4MIS keeps a no-op nn.Dropout(0.0) in its decoder blocks; skip it
                dropout=dropout if dropout > 0.0 else None,
                adn_ordering="NAD",
            ),
        )
        self.add_module("conv_1", Convolution(spatial_dims, out_channels, out_channels, act=_ACT, norm=_NORM))


class _USUpBlock(nn.Module):
    """1×1 conv, bilinear ×2 (align_corners), concat [skip, up], conv block without dropout (SSL4MIS ``UpBlock``)."""

    def __init__(self, spatial_dims: int, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = UpSample(
            spatial_dims,
            in_channels,
            skip_channels,
            scale_factor=2,
            mode="nontrainable",
            pre_conv="default",
            interp_mode="bilinear",
            align_corners=True,
        )
        self.conv = _USConvBlock(spatial_dims, 2 * skip_channels, out_channels, 0.0)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class USUNetEncoder(nn.Module):
    """Encoder of the SSL4MIS U-Net; returns the five stage outputs, shallowest first.

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels.
        features: channels of the five stages.
        dropout: dropout probability inside each stage's conv block.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        features: Sequence[int] = (16, 32, 64, 128, 256),
        dropout: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5),
    ) -> None:
        super().__init__()
        _check_spatial_dims("USUNetEncoder", spatial_dims)
        _check_positive_int("USUNetEncoder", "in_channels", in_channels)
        fea, drop = _check_features("USUNetEncoder", features, dropout)
        self.in_conv = _USConvBlock(spatial_dims, in_channels, fea[0], drop[0])
        self.downs = nn.ModuleList(
            nn.Sequential(
                Pool[Pool.MAX, spatial_dims](kernel_size=2), _USConvBlock(spatial_dims, fea[i], fea[i + 1], drop[i + 1])
            )
            for i in range(4)
        )

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.in_conv(x)
        out: List[torch.Tensor] = [x]
        for down in self.downs:
            x = down(x)
            out.append(x)
        return out


class USUNetDecoder(nn.Module):
    """Decoder of the SSL4MIS U-Net: four up blocks and a 3×3 head.

    Args:
        spatial_dims: must be 2.
        out_channels: number of output (logit) channels.
        features: channels of the five encoder stages.
    """

    def __init__(
        self, spatial_dims: int = 2, out_channels: int = 2, features: Sequence[int] = (16, 32, 64, 128, 256)
    ) -> None:
        super().__init__()
        _check_spatial_dims("USUNetDecoder", spatial_dims)
        _check_positive_int("USUNetDecoder", "out_channels", out_channels)
        fea, _ = _check_features("USUNetDecoder", features, (0.0,) * 5)
        self.ups = nn.ModuleList(_USUpBlock(spatial_dims, fea[i + 1], fea[i], fea[i]) for i in (3, 2, 1, 0))
        self.out_conv = Conv[Conv.CONV, spatial_dims](fea[0], out_channels, kernel_size=3, padding=1)

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        if len(features) != 5:
            raise ValueError(f"USUNetDecoder: expected 5 encoder features, got {len(features)}.")
        x = features[4]
        for i, up in enumerate(self.ups):
            x = up(x, features[3 - i])
        return self.out_conv(x)


class USUNet(nn.Module):
    """The SSL4MIS 2D U-Net (1.81 M parameters at the defaults), returning logits (B, out_channels, H, W).

    Height and width must be divisible by 16.

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels.
        out_channels: number of output (logit) channels; SSL4MIS uses background + classes with a softmax.
        features: channels of the five stages.
        dropout: dropout probability inside each encoder stage.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 2,
        features: Sequence[int] = (16, 32, 64, 128, 256),
        dropout: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5),
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.encoder = USUNetEncoder(spatial_dims, in_channels, features, dropout)
        self.decoder = USUNetDecoder(spatial_dims, out_channels, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("USUNet", x, self.in_channels, 16)
        return self.decoder(self.encoder(x))


class CCTUNet(nn.Module):
    """SSL4MIS ``UNet_CCT``: shared encoder, a main decoder and three perturbed auxiliary decoders.

    Training mode returns ``(main, aux1, aux2, aux3)``; aux1 sees feature noise U(-0.3, 0.3), aux2 elementwise
    dropout p = 0.3, aux3 feature dropout (gamma ~ U(0.7, 0.9)), each applied to all five encoder features (the main
    decoder receives the clean features). Evaluation mode returns the main logits only and runs no auxiliary decoder.
    3.71 M parameters at the defaults.

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels.
        out_channels: number of output (logit) channels.
        features: channels of the five stages.
        dropout: dropout probability inside each encoder stage.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 2,
        features: Sequence[int] = (16, 32, 64, 128, 256),
        dropout: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5),
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.encoder = USUNetEncoder(spatial_dims, in_channels, features, dropout)
        self.main_decoder = USUNetDecoder(spatial_dims, out_channels, features)
        self.aux_decoder1 = PerturbedDecoder(
            FeatureNoisePerturbation(0.3), USUNetDecoder(spatial_dims, out_channels, features)
        )
        self.aux_decoder2 = PerturbedDecoder(
            DropoutPerturbation(0.3, "element"), USUNetDecoder(spatial_dims, out_channels, features)
        )
        self.aux_decoder3 = PerturbedDecoder(
            FeatureDropoutPerturbation((0.7, 0.9)), USUNetDecoder(spatial_dims, out_channels, features)
        )

    def forward(
        self, x: torch.Tensor
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        _check_input("CCTUNet", x, self.in_channels, 16)
        features = self.encoder(x)
        main = self.main_decoder(features)
        if not self.training:
            return main
        return main, self.aux_decoder1(features), self.aux_decoder2(features), self.aux_decoder3(features)

    @torch.jit.unused
    def forward_all_heads(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(main, aux1, aux2, aux3)`` logits in evaluation mode, every auxiliary decoder on the clean features.

        The perturbations are skipped (each auxiliary branch's decoder is called directly), so the heads differ only
        by what their decoders learned; their disagreement is the uncertainty map of ``docs/uncertainty.md``. The main
        logits equal ``forward(x)`` in evaluation mode.

        Raises:
            RuntimeError: in training mode (batch norm and dropout would then act as in training; call ``eval()``).
        """
        if self.training:
            raise RuntimeError("CCTUNet.forward_all_heads runs in evaluation mode only; call network.eval() first.")
        _check_input("CCTUNet", x, self.in_channels, 16)
        features = self.encoder(x)
        aux = [b.decoder(features) for b in (self.aux_decoder1, self.aux_decoder2, self.aux_decoder3)]
        return self.main_decoder(features), aux[0], aux[1], aux[2]
