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

"""monai_ext.inference: bundle inference on images and streamed DICOM ultrasound clips, with DICOM SR / SEG output.

Entry point for services: :func:`run_bundle_inference`. Building blocks named by the bundles' ``inference.json``:
:func:`us_frame_name_formatter` (PNG names of clip frames) and :class:`USInferenceResultsWriter` (the handler that
writes SR / SEG / NIfTI per source); with ``uncertainty`` true, :class:`USDecoderDisagreementInferer` and
:class:`USUncertaintyMapWriter` (the decoder-disagreement map of ``docs/uncertainty.md``). The dictionary transforms
the configs use, :class:`~monai_ext.transforms.USLoadImageFramed` (one frame per item),
:class:`~monai_ext.transforms.USRegionCropd` (invertible region crop) and
:class:`~monai_ext.transforms.USSplitUncertaintyd`, live in :mod:`monai_ext.transforms` and are re-exported here so
that configs naming ``monai_ext.inference.USLoadImageFramed`` keep working.
"""

from __future__ import annotations

from .bundle import DICOM_WRITER_ID, run_bundle_inference
from .dicom_frames import USLoadImageFramed, USRegionCropd, us_frame_name_formatter
from .results_writer import KEYFRAME_POLICIES, USInferenceResultsWriter, select_us_keyframes
from .uncertainty import (
    UNCERTAINTY_ACTIVATIONS,
    USDecoderDisagreementInferer,
    USSplitUncertaintyd,
    USUncertaintyMapWriter,
    decoder_disagreement,
)

__all__ = [
    "DICOM_WRITER_ID",
    "KEYFRAME_POLICIES",
    "USInferenceResultsWriter",
    "USLoadImageFramed",
    "USRegionCropd",
    "run_bundle_inference",
    "select_us_keyframes",
    "us_frame_name_formatter",
]
__all__ += [
    "UNCERTAINTY_ACTIVATIONS",
    "USDecoderDisagreementInferer",
    "USSplitUncertaintyd",
    "USUncertaintyMapWriter",
    "decoder_disagreement",
]
