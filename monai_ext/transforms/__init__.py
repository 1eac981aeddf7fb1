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

"""monai_ext.transforms: array and dictionary transforms of ultrasound images and masks (MONAI style: ``X`` array,
``Xd`` / ``XD`` / ``XDict`` dictionary versions).

Includes the inference transforms moved from :mod:`monai_ext.inference`: frame-by-frame loading of DICOM clips and
the invertible region crop (:mod:`~monai_ext.transforms.dicom_frames`), and the split of the decoder-disagreement
channel (:mod:`~monai_ext.transforms.uncertainty`).
"""

from __future__ import annotations

from .acoustic_shadow import (
    ACOUSTIC_ANCHORS,
    ACOUSTIC_PROBES,
    USAcousticShadow,
    USAcousticShadowResult,
    USAcousticShadowSimulator,
    acoustic_transmission,
    estimate_sector_apex,
    fov_from_intensity,
    scan_coordinates,
)
from .dicom_frames import (
    USLoadImageFrameD,
    USLoadImageFramed,
    USLoadImageFrameDict,
    USRegionCropD,
    USRegionCropd,
    USRegionCropDict,
)
from .image import LUMA_WEIGHTS, USImageChannels, USImageChannelsD, USImageChannelsd, USImageChannelsDict
from .mask_export import USLabelToMask, USLabelToMaskd
from .masks import (
    MASK_MODES,
    LabelTable,
    USMaskToLabel,
    USMaskToLabelD,
    USMaskToLabeld,
    USMaskToLabelDict,
    channels_of_pil_mode,
    label_index_to_channels,
    mask_to_label_index,
    normalize_label_table,
)
from .mat_masks import MAT_MASK_PRESETS, USMatMaskPreset, mat_hole_mask
from .segfix_targets import (
    SEGFIX_DIRECTION_IGNORE,
    SEGFIX_OFFSETS,
    USSegFixTargets,
    USSegFixTargetsD,
    USSegFixTargetsd,
    USSegFixTargetsDict,
)
from .shadow_imitation import (
    SHADOW_LAYOUTS,
    SHADOW_MODES,
    USShadowImitation,
    USShadowImitationD,
    USShadowImitationd,
    USShadowImitationDict,
    load_shadow_mask_file,
)
from .uncertainty import USSplitUncertaintyD, USSplitUncertaintyd, USSplitUncertaintyDict

__all__ = [
    "ACOUSTIC_ANCHORS",
    "ACOUSTIC_PROBES",
    "LUMA_WEIGHTS",
    "MAT_MASK_PRESETS",
    "SEGFIX_DIRECTION_IGNORE",
    "SEGFIX_OFFSETS",
    "SHADOW_LAYOUTS",
    "SHADOW_MODES",
    "USAcousticShadow",
    "USAcousticShadowResult",
    "USAcousticShadowSimulator",
    "USLoadImageFrameD",
    "USLoadImageFrameDict",
    "USLoadImageFramed",
    "USRegionCropD",
    "USRegionCropDict",
    "USRegionCropd",
    "USSplitUncertaintyD",
    "USSplitUncertaintyDict",
    "USSplitUncertaintyd",
    "USMatMaskPreset",
    "USSegFixTargets",
    "USSegFixTargetsD",
    "USSegFixTargetsDict",
    "USSegFixTargetsd",
    "USShadowImitation",
    "USShadowImitationD",
    "USShadowImitationDict",
    "USShadowImitationd",
    "LabelTable",
    "MASK_MODES",
    "USImageChannels",
    "USImageChannelsD",
    "USImageChannelsDict",
    "USImageChannelsd",
    "USLabelToMask",
    "USLabelToMaskd",
    "USMaskToLabel",
    "USMaskToLabelD",
    "USMaskToLabelDict",
    "USMaskToLabeld",
    "acoustic_transmission",
    "channels_of_pil_mode",
    "estimate_sector_apex",
    "fov_from_intensity",
    "label_index_to_channels",
    "load_shadow_mask_file",
    "mask_to_label_index",
    "mat_hole_mask",
    "normalize_label_table",
    "scan_coordinates",
]
