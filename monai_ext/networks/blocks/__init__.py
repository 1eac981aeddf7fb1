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

"""monai_ext.networks.blocks."""

from __future__ import annotations

from .aspp import SABRASPP, DepthwiseSeparableConv2d
from .convlstm import MSMOConvLSTMCell
from .convmixer import ConvMixerBlock, ConvMixerLayer
from .dense_gradient import dense_gradient
from .eri import EdgeRegionInpainting, eri_confidence
from .msag import MSAGBlock
from .partial_conv import Conv2dLayerPartial
from .perturbations import (
    DropoutPerturbation,
    FeatureDropoutPerturbation,
    FeatureNoisePerturbation,
    PerturbedDecoder,
    feature_dropout,
    feature_noise,
)
from .segfix import SEGFIX_DIRECTION_OFFSETS, SegFixHeads, SegFixOffsetRefinement
from .style_blocks import DecStyleBlock, MappingNet, ModulatedConv2d, StyleConv, ToRGB, normalize_2nd_moment
from .stylegan_ops import (
    ACTIVATION_GAINS,
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdDev,
    bias_act,
    blur_filter,
    conv2d_resample,
    upfirdn2d,
    upsample2d,
)
from .window_attention import (
    MaskedPatchMerging,
    MaskedSwinBlock,
    MaskedSwinStage,
    MaskedWindowAttention,
    PatchUpsampling,
    merge_windows,
    partition_windows,
    shifted_window_region_mask,
)

__all__ = [
    "ConvMixerBlock",
    "ConvMixerLayer",
    "MSAGBlock",
    "DropoutPerturbation",
    "FeatureDropoutPerturbation",
    "FeatureNoisePerturbation",
    "PerturbedDecoder",
    "feature_dropout",
    "feature_noise",
    "MSMOConvLSTMCell",
    "dense_gradient",
]
# SABR-Net blocks
__all__ += ["ACTIVATION_GAINS", "blur_filter", "upfirdn2d", "upsample2d", "conv2d_resample", "bias_act"]
__all__ += ["Conv2dLayer", "FullyConnectedLayer", "MinibatchStdDev"]
__all__ += ["ModulatedConv2d", "StyleConv", "ToRGB", "DecStyleBlock", "MappingNet", "normalize_2nd_moment"]
__all__ += ["Conv2dLayerPartial"]
__all__ += ["partition_windows", "merge_windows", "shifted_window_region_mask", "MaskedWindowAttention"]
__all__ += ["MaskedSwinBlock", "MaskedPatchMerging", "PatchUpsampling", "MaskedSwinStage"]
__all__ += ["DepthwiseSeparableConv2d", "SABRASPP"]
__all__ += ["SEGFIX_DIRECTION_OFFSETS", "SegFixHeads", "SegFixOffsetRefinement"]
__all__ += ["eri_confidence", "EdgeRegionInpainting"]
