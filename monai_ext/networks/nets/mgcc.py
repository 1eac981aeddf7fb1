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

"""MGCC: Multi-Level Global Context Cross Consistency network (Tang et al., arXiv 2305.09447).

Re-implemented from FengheTan9/Multi-Level_Global_Context_Cross_Consistency (HEAD ``a9c8bd3``, MIT; no code copied)
as described in docs/methods/mgcc.md, "Network":

- encoder: five double-conv stages (conv3×3-BN-ReLU ×2), widths ``16·dim_mult·(1, 2, 4, 8, 16)`` (64..1024 at
  ``dim_mult=4``), 2×2 max-pooling between stages;
- bottleneck: three ConvMixer blocks in sequence (``length=(3, 3, 3)`` layers, kernel 7), tapped after 0, 3, 6 and 9
  layers;
- four independently parameterised decoders (main, aux1, aux2, aux3), each with its own four MSAG skip gates, nearest
  ×2 upsampling + conv3×3-BN-ReLU, concatenation ``[skip, upsampled]``, a double conv, and a 1×1 head;
- training mode: aux1 receives the encoder output (0 ConvMixer layers) with feature dropout, aux2 the output of
  ConvMixer1 with dropout p = 0.3, aux3 the output of ConvMixer2 with feature noise U(-0.3, 0.3) (the HEAD order of
  the public code), each perturbation applied to all five features; the main decoder receives the clean features
  after all three blocks. ``forward`` returns ``(main, aux1, aux2, aux3)``;
- evaluation mode: encoder -> ConvMixer1-3 -> main decoder, returning the main logits only.

Parameters at the defaults: 122,182,980 (training graph) and 52,142,145 (inference graph).

Deviations from the public code (docs/methods/mgcc.md, "Deviations" and "Public-code bugs not reproduced"): random
numbers of the perturbations come from torch's generator on the input's device; ``length`` is validated (the public
``type=tuple`` CLI bug); the number of output channels is a parameter (the public code fixes 1).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Conv, Pool
from torch import nn

from monai_ext.networks.arg_checks import check_features, check_positive_int, check_spatial_dims, stage_widths
from monai_ext.networks.blocks.dense_gradient import dense_gradient
from monai_ext.networks.blocks.msag import MSAGBlock
from monai_ext.networks.nets.multi_level_consistency import MultiLevelConsistencyNet

__all__ = ["MGCCEncoder", "MGCCDecoder", "MGCCNet"]

_RELU = ("relu", {"inplace": True})


def _double_conv(spatial_dims: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """[conv3×3 (bias) -> BN -> ReLU] × 2 (the public ``conv_block``)."""
    return nn.Sequential(
        Convolution(spatial_dims, in_channels, out_channels, kernel_size=3, act=_RELU, norm="batch"),
        Convolution(spatial_dims, out_channels, out_channels, kernel_size=3, act=_RELU, norm="batch"),
    )


def _up_conv(spatial_dims: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """Nearest ×2 upsampling -> conv3×3 (bias) -> BN -> ReLU (the public ``up_conv``)."""
    return nn.Sequential(
        UpSample(
            spatial_dims,
            in_channels,
            in_channels,
            scale_factor=2,
            mode="nontrainable",
            pre_conv=None,
            interp_mode="nearest",
            align_corners=None,
        ),
        Convolution(spatial_dims, in_channels, out_channels, kernel_size=3, act=_RELU, norm="batch"),
    )


class MGCCEncoder(nn.Module):
    """The CMU-Net / MGCC encoder: five double-conv stages with 2×2 max-pooling in between.

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels.
        features: widths of the five stages. Default (64, 128, 256, 512, 1024).

    Returns (forward):
        the five stage outputs ``[x1, x2, x3, x4, x5]``, shallowest first.
    """

    def __init__(
        self, spatial_dims: int = 2, in_channels: int = 3, features: Sequence[int] = (64, 128, 256, 512, 1024)
    ) -> None:
        super().__init__()
        check_spatial_dims("MGCCEncoder", spatial_dims)
        check_positive_int("MGCCEncoder", "in_channels", in_channels)
        fea = check_features("MGCCEncoder", features)
        self.stem = _double_conv(spatial_dims, in_channels, fea[0])
        self.downs = nn.ModuleList(
            nn.Sequential(Pool[Pool.MAX, spatial_dims](kernel_size=2), _double_conv(spatial_dims, fea[i], fea[i + 1]))
            for i in range(4)
        )

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.stem(x)
        out: List[torch.Tensor] = [x]
        for down in self.downs:
            x = down(x)
            out.append(x)
        return out


class _MGCCUpStage(nn.Module):
    """One decoding step: ``double_conv(cat[MSAG(skip), up_conv(d)])``."""

    def __init__(self, spatial_dims: int, in_channels: int, skip_channels: int) -> None:
        super().__init__()
        self.gate = MSAGBlock(spatial_dims, skip_channels)
        self.up = _up_conv(spatial_dims, in_channels, skip_channels)
        self.conv = _double_conv(spatial_dims, 2 * skip_channels, skip_channels)

    def forward(self, d: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # dense gradients for the ReLU / batch-norm backward of both inputs (slow on channel slices, see dense_gradient)
        return self.conv(torch.cat([dense_gradient(self.gate(skip)), dense_gradient(self.up(d))], dim=1))


class MGCCDecoder(nn.Module):
    """U-Net decoder with MSAG skip gates (the public MGCC ``Decoder``; also MSMO's "as published" decoder).

    ``forward([x1, x2, x3, x4, x5])``: four decoding steps from ``x5`` up, each gating its skip with its own MSAG,
    upsampling (nearest ×2 + conv3×3-BN-ReLU), concatenating ``[gated skip, upsampled]`` and applying a double conv;
    a 1×1 head gives the logits at the resolution of ``x1``. Each skip is gated just before it is used (the public code
    gates all four first; the result is the same). 23,346,945 parameters at the default widths with one output channel
    (of which 7,671,040 in the four MSAGs).

    Args:
        spatial_dims: must be 2.
        out_channels: number of output (logit) channels.
        features: widths of the five encoder stages. Default (64, 128, 256, 512, 1024).
    """

    def __init__(
        self, spatial_dims: int = 2, out_channels: int = 1, features: Sequence[int] = (64, 128, 256, 512, 1024)
    ) -> None:
        super().__init__()
        check_spatial_dims("MGCCDecoder", spatial_dims)
        check_positive_int("MGCCDecoder", "out_channels", out_channels)
        fea = check_features("MGCCDecoder", features)
        # decoding order: stage 0 consumes x5 and x4, ..., stage 3 consumes x1
        self.stages = nn.ModuleList(_MGCCUpStage(spatial_dims, fea[i + 1], fea[i]) for i in (3, 2, 1, 0))
        self.head = Conv[Conv.CONV, spatial_dims](fea[0], out_channels, kernel_size=1)

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        if len(features) != 5:
            raise ValueError(f"MGCCDecoder: expected 5 features [x1, x2, x3, x4, x5], got {len(features)}.")
        d = features[4]
        for i, stage in enumerate(self.stages):
            d = stage(d, features[3 - i])
        return self.head(d)


class MGCCNet(MultiLevelConsistencyNet):
    """The MGCC network: shared encoder, three tapped ConvMixer blocks, a main and three perturbed auxiliary decoders.

    Training mode returns ``(main, aux1, aux2, aux3)`` logits, each (B, out_channels, H, W); evaluation mode returns the
    main logits only and computes no auxiliary decoder. Height and width must be divisible by 16. The sigmoid (or
    softmax) is applied outside the network. The forward pass (taps, perturbations, checkpointing) is the shared one of
    :class:`~monai_ext.networks.nets.multi_level_consistency.MultiLevelConsistencyNet`; MGCC contributes its encoder
    (:class:`MGCCEncoder`) and decoder (:class:`MGCCDecoder`).

    Args:
        spatial_dims: must be 2.
        in_channels: number of input channels (3 in MGCC: grey ultrasound replicated).
        out_channels: number of output (logit) channels (1 in MGCC).
        dim_mult: width multiplier (any positive number); stage widths are ``round(16 * dim_mult * (1, 2, 4, 8, 16))``:
            64..1024 at the published 4, 8..128 at 0.5 (a CPU preset).
        kernel_size: odd depthwise kernel size of the ConvMixer layers.
        length: numbers of layers of the three ConvMixer blocks (three positive ints). The auxiliary decoders are
            tapped after 0, ``length[0]`` and ``length[0] + length[1]`` layers; the main decoder after all of them.
        checkpoint_aux_decoders: run each auxiliary branch (perturbation + decoder) under
            :func:`torch.utils.checkpoint.checkpoint` in training: its activations are recomputed during backward
            instead of stored (less memory, about one extra auxiliary forward of compute). The random perturbations
            are replayed identically (the RNG state is preserved). Side effect: the BatchNorm running statistics of the
            auxiliary decoders are updated twice per step; they are never used (inference runs the main decoder only).
        multi_level_taps: True (MGCC). False feeds all auxiliary decoders from the output of the last ConvMixer block,
            i.e. plain CCT on the MGCC backbone (the minimal ablation of MGCC, docs/methods/evaluation.md, "Baselines").
        checkpoint_main_decoder: also checkpoint the main decoder in training (the least memory; one more decoder
            forward per step). The result is unchanged.
        features: explicit widths of the five encoder stages (the ConvMixer width is the last); overrides `dim_mult`.

    Performance: the network keeps the memory format of its input, so ``net.to(memory_format=torch.channels_last)``
    with channels-last inputs works end to end (faster training steps and inference on CPU with oneDNN in our
    measurement, see the bundle README). Use ``optimizer.zero_grad(set_to_none=True)`` (the PyTorch default). In
    channels-last memory the inputs of every channel concatenation (MSAG branches, decoder skips) hand a dense
    gradient to their batch norm / ReLU backward
    (:func:`~monai_ext.networks.blocks.dense_gradient.dense_gradient`): the CPU kernels are several times slower on
    the strided channel slices that ``torch.cat``'s backward produces, most of all in bfloat16 (``--amp true``). No
    option is needed: it applies to channels-last training and changes no value.

    Examples::

        >>> net = MGCCNet(dim_mult=1).train()
        >>> [o.shape[1:] for o in net(torch.rand(2, 3, 64, 64))]  # main, aux1, aux2, aux3
        [torch.Size([1, 64, 64]), torch.Size([1, 64, 64]), torch.Size([1, 64, 64]), torch.Size([1, 64, 64])]
        >>> net.eval()(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 1, 64, 64])
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 1,
        dim_mult: float = 4,
        kernel_size: int = 7,
        length: Sequence[int] = (3, 3, 3),
        checkpoint_aux_decoders: bool = False,
        multi_level_taps: bool = True,
        checkpoint_main_decoder: bool = False,
        features: Optional[Sequence[int]] = None,
    ) -> None:
        check_spatial_dims("MGCCNet", spatial_dims)
        check_positive_int("MGCCNet", "in_channels", in_channels)
        check_positive_int("MGCCNet", "out_channels", out_channels)
        features = stage_widths("MGCCNet", dim_mult, features)
        super().__init__(
            name="MGCCNet",
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            encoder=MGCCEncoder(spatial_dims, in_channels, features),
            make_decoder=lambda: MGCCDecoder(spatial_dims, out_channels, features),
            bottleneck_channels=features[4],
            kernel_size=kernel_size,
            length=length,
            checkpoint_aux_decoders=checkpoint_aux_decoders,
            multi_level_taps=multi_level_taps,
            checkpoint_main_decoder=checkpoint_main_decoder,
        )
