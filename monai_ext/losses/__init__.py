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

"""monai_ext.losses."""

from __future__ import annotations

from .adversarial import (
    DiscriminatorOutputs,
    feature_matching_l1_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    logistic_discriminator_loss,
    logistic_generator_loss,
)
from .bce_dice import USBCEDiceLoss
from .gan_regularizers import USPathLengthRegularizer, r1_penalty
from .inpainting import (
    RECONSTRUCTION_MODES,
    USGramStyleLoss,
    USPerceptualL1Loss,
    USReconstructionL1Loss,
    composite_inpainting,
    gram_matrix,
)
from .sabr_boundary import USSABRBoundaryLoss
from .sabr_segmentation import DICE_ACTIVATIONS, USSABRSegLoss, label_to_one_hot
from .segfix import USSegFixLoss, inverse_frequency_cross_entropy

__all__ = [
    "DICE_ACTIVATIONS",
    "DiscriminatorOutputs",
    "RECONSTRUCTION_MODES",
    "USBCEDiceLoss",
    "USGramStyleLoss",
    "USPathLengthRegularizer",
    "USPerceptualL1Loss",
    "USReconstructionL1Loss",
    "USSABRBoundaryLoss",
    "USSABRSegLoss",
    "USSegFixLoss",
    "composite_inpainting",
    "feature_matching_l1_loss",
    "gram_matrix",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "inverse_frequency_cross_entropy",
    "label_to_one_hot",
    "logistic_discriminator_loss",
    "logistic_generator_loss",
    "r1_penalty",
]
