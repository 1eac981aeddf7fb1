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

"""monai_ext.io: reading DICOM ultrasound images and clips, and writing results (DICOM SEG / SR, key frames, NIfTI,
PNG).

Modules: :mod:`~monai_ext.io.dicom_header` (header checks, region calibration), :mod:`~monai_ext.io.dicom_reader`
(streaming reader), :mod:`~monai_ext.io.structure_codes` (coded concepts of the structures),
:mod:`~monai_ext.io.writer_inputs` (source-header and mask checks shared by the writers),
:mod:`~monai_ext.io.seg_writer` (DICOM SEG), :mod:`~monai_ext.io.keyframe_writer` (key frames of clips),
:mod:`~monai_ext.io.sr_writer` (TID 1500 SR with contours), :mod:`~monai_ext.io.nifti_writer`,
:mod:`~monai_ext.io.png_writer` and :mod:`~monai_ext.io.phantom_clip` (a synthetic test clip).
"""

from __future__ import annotations

from .dicom_header import (
    ENHANCED_US_VOLUME_UID,
    US_SOP_CLASS_UIDS,
    USCalibrationWarning,
    USClipHeader,
    USDicomError,
    USRegion,
    USRegionWarning,
    check_us_decoder,
    drop_us_regions_outside,
    read_us_header,
    select_us_region,
)
from .dicom_reader import UltrasoundDicomReader, compute_us_overlay_mask, iter_us_frames
from .keyframe_writer import write_us_keyframe
from .nifti_writer import write_us_nifti
from .phantom_clip import write_phantom_clip
from .png_writer import OUTPUT_SOFTWARE_TAG, USAtomicPILWriter
from .seg_writer import USSegResult, write_us_seg
from .sr_writer import USContourSRResult, trace_mask_contours, write_us_contour_sr
from .structure_codes import US_STRUCTURE_CODES, USStructureCode, resolve_us_structure

__all__ = [
    "OUTPUT_SOFTWARE_TAG",
    "USAtomicPILWriter",
    "ENHANCED_US_VOLUME_UID",
    "US_SOP_CLASS_UIDS",
    "USCalibrationWarning",
    "USClipHeader",
    "USDicomError",
    "USRegion",
    "USRegionWarning",
    "UltrasoundDicomReader",
    "check_us_decoder",
    "compute_us_overlay_mask",
    "drop_us_regions_outside",
    "iter_us_frames",
    "read_us_header",
    "select_us_region",
    "write_phantom_clip",
    "US_STRUCTURE_CODES",
    "USSegResult",
    "USStructureCode",
    "resolve_us_structure",
    "write_us_keyframe",
    "write_us_seg",
    "USContourSRResult",
    "trace_mask_contours",
    "write_us_contour_sr",
    "write_us_nifti",
]
