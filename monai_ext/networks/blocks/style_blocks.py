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

"""Style-modulated synthesis blocks of SABR-Net's generator (MAT / StyleGAN2 conventions, plain PyTorch).

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``):

- :class:`ModulatedConv2d`: an affine layer maps the style vector to one scale per input channel (bias initialised to
  1); the equalised weight is modulated per sample and, with ``demodulate``, renormalised to unit L2 norm per output
  channel (``rsqrt(sum w**2 + 1e-8)``); optional up-sampling by 2 with the [1, 3, 3, 1] filter;
- :class:`StyleConv`: modulated 3x3 convolution + bias + LeakyReLU(0.2) x sqrt(2); no noise injection;
- :class:`ToRGB`: modulated 1x1 convolution without demodulation + bias, plus the previous output up-sampled by 2
  (the StyleGAN2 skip output); the first block has no previous output;
- :class:`DecStyleBlock`: ``x = StyleConv(up=2)(x); x = x + skip; x = StyleConv(x); out = ToRGB(x) + up(prev)``;
- :class:`MappingNet`: z ~ N(0, I) (drawn by the caller at every training call) -> second-moment normalisation ->
  ``num_layers`` x FC(lrelu, lr multiplier 0.01) -> broadcast to ``num_ws`` copies; a running average of w with
  beta = 0.995 is tracked in training and is the deterministic latent used outside training.

Deviations: modulation is applied to the activations (``x * s``, convolution, ``* demodulation``) instead of building
per-sample grouped weights; the result is identical and the path is cheaper on CPU. The fp16 overflow guards of the
public op (rescaling by infinity norms) are dropped (full precision only). z comes from torch's generator on the
model's device (the public code draws it with NumPy's global generator).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import nn

from monai_ext.networks.arg_checks import check_choice, check_positive_int, check_probability
from monai_ext.networks.blocks.stylegan_ops import (
    ACTIVATION_GAINS,
    FullyConnectedLayer,
    bias_act,
    blur_filter,
    conv2d_resample,
    upsample2d,
)

__all__ = ["ModulatedConv2d", "StyleConv", "ToRGB", "DecStyleBlock", "MappingNet", "normalize_2nd_moment"]


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x**2) + eps)`` along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution (StyleGAN2), without bias.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size.
        style_dim: dimension of the style vector.
        demodulate: renormalise the modulated weights per output channel.
        up: 1 or 2 (transposed convolution + [1, 3, 3, 1] blur).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        up: int = 1,
    ) -> None:
        super().__init__()
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels), ("style_dim", style_dim)):
            check_positive_int("ModulatedConv2d", arg, v)
        check_positive_int("ModulatedConv2d", "kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"ModulatedConv2d: kernel_size must be odd, got {kernel_size!r}.")
        check_choice("ModulatedConv2d", "up", up, (1, 2))
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.up, self.padding = bool(demodulate), up, kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.affine = FullyConnectedLayer(style_dim, in_channels, bias_init=1.0)
        self.register_buffer("resample_filter", blur_filter(), persistent=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x``: (B, in, H, W); ``style``: (B, style_dim). Returns (B, out, H', W')."""
        s = self.affine(style)  # (B, in)
        w = self.weight * self.weight_gain
        x = x * s[:, :, None, None]
        x = conv2d_resample(x, w, self.resample_filter if self.up > 1 else None, up=self.up, padding=self.padding)
        if self.demodulate:
            # ||w_o * s||^2 summed over inputs and taps = (sum_k w_{o,i,k}^2) @ s_i^2
            d = (s.square() @ w.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()  # (B, out)
            x = x * d[:, :, None, None]
        return x


class StyleConv(nn.Module):
    """Modulated convolution + bias + LeakyReLU(0.2) x sqrt(2) (MAT ``StyleConv`` without noise).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        style_dim: dimension of the style vector.
        kernel_size: odd kernel size (3).
        up: 1 or 2.
        demodulate: weight demodulation (True).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        style_dim: int,
        kernel_size: int = 3,
        up: int = 1,
        demodulate: bool = True,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate, up=up)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return bias_act(self.conv(x, style), self.bias, "lrelu", ACTIVATION_GAINS["lrelu"])


class ToRGB(nn.Module):
    """Modulated 1x1 output convolution without demodulation, + bias, + the previous output up-sampled x2.

    Used for both the RGB (inpainting) and the logit (segmentation) outputs; there is no output activation.

    Args:
        in_channels: input channels.
        out_channels: output channels (3 for an image, C for segmentation logits).
        style_dim: dimension of the style vector.
        kernel_size: odd kernel size (1).
    """

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", blur_filter(), persistent=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``skip``: the previous block's output at half (or equal) resolution, or None for the first block."""
        out = bias_act(self.conv(x, style), self.bias, "linear")
        if skip is not None:
            if skip.shape[-2:] != out.shape[-2:]:
                skip = upsample2d(skip, self.resample_filter)
            if skip.shape != out.shape:
                raise ValueError(
                    f"ToRGB: skip of shape {tuple(skip.shape)} does not match the output {tuple(out.shape)}."
                )
            out = out + skip
        return out


class DecStyleBlock(nn.Module):
    """One style-modulated decoder step doubling the resolution (MAT ``DecStyleBlock``).

    ``forward(x, prev_out, style, skip)``: ``x = StyleConv(up=2)(x, style) + skip``; ``x = StyleConv(x, style)``;
    ``out = ToRGB(x, style) + up2(prev_out)``. Returns ``(x, out)``.

    Args:
        in_channels: input feature channels.
        out_channels: output feature channels (also the channels of ``skip``).
        style_dim: dimension of the style vector.
        img_channels: channels of the block output (image or logits).
        demodulate: weight demodulation of the two StyleConvs.
    """

    def __init__(
        self, in_channels: int, out_channels: int, style_dim: int, img_channels: int, demodulate: bool = True
    ) -> None:
        super().__init__()
        self.conv0 = StyleConv(in_channels, out_channels, style_dim, kernel_size=3, up=2, demodulate=demodulate)
        self.conv1 = StyleConv(out_channels, out_channels, style_dim, kernel_size=3, demodulate=demodulate)
        self.to_rgb = ToRGB(out_channels, img_channels, style_dim, kernel_size=1)

    def forward(
        self, x: torch.Tensor, prev_out: Optional[torch.Tensor], style: torch.Tensor, skip: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.conv0(x, style)
        if skip.shape != x.shape:
            raise ValueError(f"DecStyleBlock: skip of shape {tuple(skip.shape)} does not match {tuple(x.shape)}.")
        x = self.conv1(x + skip, style)
        return x, self.to_rgb(x, style, skip=prev_out)


class MappingNet(nn.Module):
    """StyleGAN2 mapping network (unconditional): z -> w, broadcast to ``num_ws`` latents, with a tracked average w.

    ``forward(z)`` maps a given z (B, z_dim) to ws (B, num_ws, w_dim) and, in training mode, updates
    ``w_avg <- beta * w_avg + (1 - beta) * mean_batch(w)``. :meth:`sample` draws z ~ N(0, I) and maps it;
    :meth:`average` returns the tracked average broadcast to a batch (deterministic; no update).

    Args:
        z_dim: latent dimension (512).
        w_dim: intermediate latent dimension (512).
        num_ws: number of broadcast copies (10 in SABR-Net's generator; only the last is used).
        num_layers: number of FC layers (8).
        lr_multiplier: learning-rate multiplier of the FC layers (0.01).
        w_avg_beta: decay of the tracked average (0.995).
    """

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        num_ws: int = 10,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        for arg, v in (("z_dim", z_dim), ("w_dim", w_dim), ("num_ws", num_ws), ("num_layers", num_layers)):
            check_positive_int("MappingNet", arg, v)
        self.w_avg_beta = check_probability("MappingNet", "w_avg_beta", w_avg_beta)
        self.z_dim, self.w_dim, self.num_ws = z_dim, w_dim, num_ws
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnectedLayer(dims[i], dims[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            for i in range(num_layers)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"MappingNet: expected z of shape (B, {self.z_dim}), got {tuple(z.shape)}.")
        x = normalize_2nd_moment(z.to(torch.float32))
        for layer in self.layers:
            x = layer(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)

    def sample(self, batch_size: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Draw z ~ N(0, I) (torch's generator) and map it: (batch_size, num_ws, w_dim)."""
        device = self.w_avg.device if device is None else device
        return self(torch.randn(batch_size, self.z_dim, device=device))

    def average(self, batch_size: int) -> torch.Tensor:
        """The tracked average w broadcast to (batch_size, num_ws, w_dim)."""
        return self.w_avg.reshape(1, 1, -1).expand(batch_size, self.num_ws, -1)
