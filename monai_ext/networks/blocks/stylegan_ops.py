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

"""StyleGAN2 / MAT low-level operations in plain PyTorch (CPU and CUDA, no compiled extension).

Re-implemented (no code copied) from the layer conventions of StyleGAN2-ADA and MAT that SABR-Net builds on, as
described in the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``):

- :func:`upfirdn2d`: zero-insertion up-sampling, padding (negative = cropping), FIR filtering with a 2-D filter and
  decimation, here as ``reshape`` + ``pad`` + depthwise ``conv2d`` + strided slicing instead of the CUDA kernel;
- :func:`blur_filter`: the separable low-pass filter ``[1, 3, 3, 1]`` (outer product, normalised to sum 1);
  up-sampling by 2 multiplies it by 4 (the ``up**2`` gain);
- :func:`conv2d_resample`: convolution with optional up-sampling (stride-2 transposed convolution, then blur) or
  down-sampling (blur, then stride-2 convolution), with the same padding arithmetic as the StyleGAN2-ADA op;
- :class:`Conv2dLayer` and :class:`FullyConnectedLayer`: equalised learning rate (weights ~ N(0, 1) scaled at run
  time by ``lr_multiplier / sqrt(fan_in)``), bias, and ``"lrelu"`` = LeakyReLU(0.2) x sqrt(2) or ``"linear"``;
- :class:`MinibatchStdDev`: the StyleGAN2 minibatch standard-deviation feature.

Deviations: the transposed convolution of the up-sampling path uses the stored kernel unflipped (the public op flips it
depending on a speed flag); weights are learned from a random start, so this is only a re-parameterisation. The
clamping of activations (``conv_clamp``, used by the public code for mixed precision only) is not implemented.
:class:`MinibatchStdDev` uses the largest group size that divides the batch (the public layers fail on other batch
sizes).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.arg_checks import check_choice, check_positive_float, check_positive_int

__all__ = [
    "ACTIVATION_GAINS",
    "blur_filter",
    "upfirdn2d",
    "upsample2d",
    "conv2d_resample",
    "bias_act",
    "Conv2dLayer",
    "FullyConnectedLayer",
    "MinibatchStdDev",
]

#: Default gains of the activations (StyleGAN2 convention: keeps the activation variance roughly constant).
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0)}
_LRELU_SLOPE = 0.2


def blur_filter(taps: Sequence[float] = (1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    """The normalised 2-D low-pass filter ``outer(taps, taps) / sum``; default the StyleGAN2 ``[1, 3, 3, 1]``."""
    f = torch.as_tensor(list(taps), dtype=torch.float32)
    if f.ndim != 1 or f.numel() < 1:
        raise ValueError(f"blur_filter: taps must be a non-empty 1-D sequence, got {taps!r}.")
    f2 = torch.outer(f, f)
    return f2 / f2.sum()


def _pad_or_crop(x: torch.Tensor, padding: Tuple[int, int, int, int]) -> torch.Tensor:
    """Pad (positive) or crop (negative) the last two dims; ``padding = (left, right, top, bottom)``."""
    x0, x1, y0, y1 = padding
    if any(p > 0 for p in padding):
        x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    if any(p < 0 for p in padding):
        h, w = x.shape[-2], x.shape[-1]
        x = x[..., max(-y0, 0) : h - max(-y1, 0), max(-x0, 0) : w - max(-x1, 0)]
    return x


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: Tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Up-sample by zero insertion, pad, filter with ``f`` (true convolution) and keep every ``down``-th sample.

    Args:
        x: (B, C, H, W) tensor.
        f: (fh, fw) filter (e.g. :func:`blur_filter`), applied to every channel.
        up: integer up-sampling factor (zeros inserted after each sample).
        down: integer down-sampling factor.
        padding: ``(left, right, top, bottom)`` after up-sampling; negative values crop.
        gain: multiplies the filter (``up**2`` keeps the mean of an up-sampled signal).

    Returns:
        (B, C, H', W') with ``H' = (H * up + top + bottom - fh) // down + 1`` (likewise for W').
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x = _pad_or_crop(x, padding)
    # conv2d is a correlation; flipping the filter makes it a convolution (a no-op for the symmetric blur filter)
    weight = (f * gain).to(dtype=x.dtype, device=x.device).flip([0, 1])
    weight = weight[None, None].expand(c, 1, weight.shape[0], weight.shape[1])
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Up-sample ``x`` by ``up`` with the filter ``f`` (gain ``up**2``): (B, C, H, W) -> (B, C, up*H, up*W)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=float(up**2))


def conv2d_resample(
    x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor], up: int = 1, down: int = 1, padding: int = 0
) -> torch.Tensor:
    """2-D convolution of ``x`` with ``w`` combined with ``up``- or ``down``-sampling by 2 through the filter ``f``.

    ``up = 2``: stride-2 transposed convolution, then ``f`` (gain 4); ``down = 2``: ``f``, then stride-2 convolution;
    otherwise a plain ``conv2d`` with zero padding ``padding``. For an odd kernel and ``padding = k // 2`` the output
    is (2H, 2W), (H/2, W/2) or (H, W).
    """
    if up > 1 and down > 1:
        raise ValueError(f"conv2d_resample: up and down together are not supported, got up={up}, down={down}.")
    kw = w.shape[-1]
    if up > 1:
        if f is None:
            raise ValueError("conv2d_resample: up-sampling needs a filter f.")
        fw = f.shape[-1]
        p0 = padding + (fw + up - 1) // 2 - (kw - 1)
        p1 = padding + (fw - up) // 2 - (kw - up)
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=up)
        return upfirdn2d(x, f, padding=(p0, p1, p0, p1), gain=float(up**2))
    if down > 1:
        if f is None:
            raise ValueError("conv2d_resample: down-sampling needs a filter f.")
        fw = f.shape[-1]
        p0 = padding + (fw - down + 1) // 2
        p1 = padding + (fw - down) // 2
        x = upfirdn2d(x, f, padding=(p0, p1, p0, p1))
        return F.conv2d(x, w, stride=down)
    return F.conv2d(x, w, padding=padding)


def bias_act(
    x: torch.Tensor, b: Optional[torch.Tensor], act: str = "linear", gain: Optional[float] = None, dim: int = 1
) -> torch.Tensor:
    """``act(x + b) * gain``; ``b`` is broadcast along ``dim``; ``gain`` defaults to the activation's default gain."""
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, _LRELU_SLOPE)
    elif act != "linear":
        raise ValueError(f"bias_act: act must be 'linear' or 'lrelu', got {act!r}.")
    g = ACTIVATION_GAINS[act] if gain is None else gain
    return x * g if g != 1.0 else x


class Conv2dLayer(nn.Module):
    """Equalised-learning-rate 2-D convolution with optional [1, 3, 3, 1] up/down-sampling, bias and activation.

    The weight (out, in, k, k) is drawn from N(0, 1) and multiplied at run time by ``1 / sqrt(in * k**2)``; the bias
    starts at 0. ``down=2`` blurs, then convolves with stride 2; ``up=2`` transposes with stride 2, then blurs. The
    padding is ``k // 2`` so that odd kernels keep (or exactly halve / double) the size.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size.
        bias: add a learned bias before the activation.
        activation: ``"linear"`` or ``"lrelu"`` (LeakyReLU(0.2) x sqrt(2)).
        up: 1 or 2.
        down: 1 or 2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
    ) -> None:
        super().__init__()
        check_positive_int("Conv2dLayer", "in_channels", in_channels)
        check_positive_int("Conv2dLayer", "out_channels", out_channels)
        check_positive_int("Conv2dLayer", "kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"Conv2dLayer: kernel_size must be odd, got {kernel_size!r}.")
        check_choice("Conv2dLayer", "activation", activation, tuple(ACTIVATION_GAINS))
        check_choice("Conv2dLayer", "up", up, (1, 2))
        check_choice("Conv2dLayer", "down", down, (1, 2))
        if up > 1 and down > 1:
            raise ValueError(f"Conv2dLayer: up and down cannot both be 2, got up={up}, down={down}.")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation, self.up, self.down = activation, up, down
        self.padding = kernel_size // 2
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACTIVATION_GAINS[activation]
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.register_buffer("resample_filter", blur_filter(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        f = self.resample_filter if (self.up > 1 or self.down > 1) else None
        x = conv2d_resample(x, w.to(x.dtype), f, up=self.up, down=self.down, padding=self.padding)
        b = None if self.bias is None else self.bias.to(x.dtype)
        return bias_act(x, b, self.activation, self.act_gain)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, activation={self.activation}, "
            f"up={self.up}, down={self.down}, bias={self.bias is not None}"
        )


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer with a learning-rate multiplier (StyleGAN2 mapping-network convention).

    The weight (out, in) is initialised as N(0, 1) / ``lr_multiplier`` and multiplied at run time by
    ``lr_multiplier / sqrt(in)``; the bias starts at ``bias_init`` and is multiplied by ``lr_multiplier``. So the
    initial function is that of N(0, 1/in) weights, while Adam's steps are scaled by ``lr_multiplier``.

    Args:
        in_features: input features (last dim).
        out_features: output features.
        bias: add a learned bias before the activation.
        activation: ``"linear"`` or ``"lrelu"``.
        lr_multiplier: learning-rate multiplier (0.01 in the mapping network).
        bias_init: initial bias value (1 for the style affines of modulated convolutions).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive_int("FullyConnectedLayer", "in_features", in_features)
        check_positive_int("FullyConnectedLayer", "out_features", out_features)
        check_choice("FullyConnectedLayer", "activation", activation, tuple(ACTIVATION_GAINS))
        lr_multiplier = check_positive_float("FullyConnectedLayer", "lr_multiplier", lr_multiplier)
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        b = None if self.bias is None else (self.bias * self.bias_gain).to(x.dtype)
        if self.activation == "linear":
            return F.linear(x, w, b)
        return bias_act(F.linear(x, w), b, self.activation, dim=x.ndim - 1)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}, "
            f"lr_multiplier={self.bias_gain}"
        )


class MinibatchStdDev(nn.Module):
    """Append the minibatch standard deviation as extra feature maps (StyleGAN2 discriminator).

    The batch is split into groups of ``G = largest divisor of B not above group_size`` samples (sample ``i`` is in
    group ``i mod (B / G)``); for every group the per-position standard deviation over its members is averaged over
    channels (in ``num_features`` channel groups) and positions, and broadcast as ``num_features`` constant maps.

    Args:
        group_size: maximal group size (4 in StyleGAN2).
        num_features: number of appended maps (1 in StyleGAN2).
    """

    def __init__(self, group_size: int = 4, num_features: int = 1) -> None:
        super().__init__()
        self.group_size = check_positive_int("MinibatchStdDev", "group_size", group_size)
        self.num_features = check_positive_int("MinibatchStdDev", "num_features", num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c % self.num_features != 0:
            raise ValueError(
                f"MinibatchStdDev: channels ({c}) must be divisible by num_features ({self.num_features})."
            )
        g = max(d for d in range(1, min(self.group_size, b) + 1) if b % d == 0)
        y = x.reshape(g, -1, self.num_features, c // self.num_features, h, w)
        y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)
        y = y.mean(dim=(2, 3, 4))  # (B / G, F)
        y = y.reshape(-1, self.num_features, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)
