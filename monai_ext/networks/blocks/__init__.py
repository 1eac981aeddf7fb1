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

from .convlstm import MSMOConvLSTMCell
from .convmixer import ConvMixerBlock, ConvMixerLayer
from .dense_gradient import dense_gradient
from .msag import MSAGBlock
from .perturbations import (
    DropoutPerturbation,
    FeatureDropoutPerturbation,
    FeatureNoisePerturbation,
    PerturbedDecoder,
    feature_dropout,
    feature_noise,
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
