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

"""DICOM SEG output for ultrasound segmentations with highdicom (docs/methods/ultrasound-dicom.md, "DICOM SEG", "Key
frames" and "Coded concepts").

- :func:`write_us_seg` writes a BINARY (default) or FRACTIONAL Segmentation (one segment per structure) that references
  one single-frame ultrasound image.
- Multi-frame sources (cine clips) usually have no Frame of Reference, and highdicom then supports a single source
  frame only (highdicom#284): the SEG references a key frame derived from the chosen clip frame by
  :func:`monai_ext.io.write_us_keyframe` (:mod:`monai_ext.io.keyframe_writer`). Whole clips go to
  :func:`monai_ext.io.write_us_contour_sr`.

The structure codes (:data:`~monai_ext.io.US_STRUCTURE_CODES`) live in :mod:`monai_ext.io.structure_codes`, the
source-header and mask checks shared with the other writers in :mod:`monai_ext.io.writer_inputs`; both are re-exported
here for callers of the old paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from monai_ext.utils.atomic import atomic_output

from .keyframe_writer import write_us_keyframe
from .structure_codes import US_STRUCTURE_CODES, USStructureCode, resolve_structure_names, resolve_us_structure
from .writer_inputs import (
    check_binary_masks,
    check_label_map,
    complete_source_header,
    count_frames,
    masks_to_numpy,
    read_source_header,
    resolve_algorithm_version,
    source_name,
)

__all__ = [
    "USStructureCode",
    "US_STRUCTURE_CODES",
    "resolve_us_structure",
    "USSegResult",
    "write_us_keyframe",
    "write_us_seg",
]


def _place(
    masks: np.ndarray,
    rows: int,
    columns: int,
    crop_offset: Sequence[int] | None,
    reverse_indexing: bool,
    name: str,
) -> np.ndarray:
    """``(..., H, W)`` masks (or ``(..., X, Y)`` with ``reverse_indexing``) -> full-frame ``(..., rows, columns)``."""
    if reverse_indexing:
        masks = np.swapaxes(masks, -1, -2)
    h, w = masks.shape[-2:]
    if crop_offset is None:
        if (h, w) != (rows, columns):
            raise ValueError(
                f"{name}: masks are {h} x {w} (rows x columns) but the source frame is {rows} x {columns}; pass "
                "crop_offset=(x0, y0) for masks of the region crop (reader metadata 'crop_offset'), or set "
                "reverse_indexing=True for (X, Y) ordered masks."
            )
        return masks
    if len(crop_offset) != 2:
        raise ValueError(f"crop_offset must be (x0, y0) full-frame (column, row), got {crop_offset!r}.")
    x0, y0 = (int(v) for v in crop_offset)
    if x0 < 0 or y0 < 0 or x0 + w > columns or y0 + h > rows:
        raise ValueError(
            f"{name}: masks of {h} x {w} at crop_offset (x0, y0) = ({x0}, {y0}) do not fit the "
            f"{rows} x {columns} source frame."
        )
    full = np.zeros(masks.shape[:-2] + (rows, columns), dtype=masks.dtype)
    full[..., y0 : y0 + h, x0 : x0 + w] = masks
    return full



def _split_labels(label_map: np.ndarray, n_structures: int, name: str) -> np.ndarray:
    """``(..., H, W)`` integer label map with values ``0..n`` -> ``(..., n, H, W)`` bool."""
    check_label_map(label_map, n_structures, name)
    return np.stack([label_map == i for i in range(1, n_structures + 1)], axis=-3)



# ------------------------------------------------------------------------------------------------ SEG


@dataclass
class USSegResult:
    """What :func:`write_us_seg` wrote.

    Attributes:
        seg_path: the Segmentation file.
        keyframe_path: the derived single-frame key frame the SEG references (multi-frame sources), else None.
        referenced_sop_instance_uid: the instance the SEG references (the source, or the key frame).
        source_frame_number: 1-based frame of a multi-frame source, None for a single-frame source.
        segment_numbers: structure label -> segment number.
        empty_structures: labels whose mask is empty (their segment is present with no pixels set).
    """

    seg_path: Path
    keyframe_path: Path | None
    referenced_sop_instance_uid: str
    source_frame_number: int | None
    segment_numbers: dict[str, int]
    empty_structures: list[str]


def _seg_masks(
    masks: Any,
    n_structures: int,
    rows: int,
    columns: int,
    crop_offset: Sequence[int] | None,
    reverse_indexing: bool,
    fractional: bool,
    name: str,
) -> np.ndarray:
    """-> ``(S, rows, columns)``: bool (binary) or float in [0, 1] (fractional)."""
    arr = masks_to_numpy(masks, "masks")
    if arr.ndim == 2:
        per_structure = _split_labels(arr, n_structures, name)
    elif arr.ndim == 3:
        if arr.shape[0] != n_structures:
            raise ValueError(
                f"{name}: masks have {arr.shape[0]} structure channel(s) (shape {arr.shape}) but "
                f"{n_structures} structure name(s) were given."
            )
        if fractional:
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{name}: fractional masks must be numeric, got {arr.dtype}.")
            per_structure = arr.astype(np.float32)
            if not np.isfinite(per_structure).all() or per_structure.min() < 0 or per_structure.max() > 1:
                raise ValueError(f"{name}: fractional masks must be probabilities in [0, 1].")
        else:
            per_structure = check_binary_masks(arr, name)
    else:
        raise ValueError(
            f"{name}: masks must be a (H, W) label map or (S, H, W) per-structure masks, got shape {arr.shape}."
        )
    return _place(per_structure, rows, columns, crop_offset, reverse_indexing, name)


def write_us_seg(
    source: str | os.PathLike | Dataset,
    masks: Any,
    structure_names: Sequence[str | USStructureCode],
    out_path: str | os.PathLike,
    frame_index: int | None = None,
    *,
    crop_offset: Sequence[int] | None = None,
    reverse_indexing: bool = False,
    segmentation_type: str = "binary",
    keyframe_path: str | os.PathLike | None = None,
    series_instance_uid: str | None = None,
    series_number: int = 300,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    keyframe_series_instance_uid: str | None = None,
    manufacturer: str = "monai_ext",
    manufacturer_model_name: str = "monai_ext ultrasound segmentation",
    device_serial_number: str = "0",
    algorithm_name: str = "monai_ext",
    algorithm_version: str | None = None,
    series_description: str | None = "AI segmentation",
    decoding_plugin: str = "",
) -> USSegResult:
    """Write a DICOM Segmentation of one ultrasound frame with highdicom (docs/methods/ultrasound-dicom.md, "DICOM SEG"
    and "Key frames").

    Single-frame source: the SEG references the source instance. Multi-frame source (clip): ``frame_index`` selects a
    frame, a derived single-frame key frame is written (see :func:`write_us_keyframe`) and the SEG references it (the
    key frame references the clip frame). Every structure becomes one segment (numbered from 1 in the order of
    ``structure_names``), present even when its mask is empty (``omit_empty_frames=False``).

    Args:
        source: the source DICOM (path, or a dataset; a dataset must include pixel data for clips).
        masks: ``(H, W)`` integer label map (0 background, ``i`` = ``structure_names[i - 1]``) or ``(S, H, W)``
            per-structure masks (binary; probabilities in [0, 1] with ``segmentation_type="fractional"``), in full
            frame pixels, or in the region crop with ``crop_offset``. numpy arrays or torch tensors.
        structure_names: one name per structure, keys of :data:`US_STRUCTURE_CODES` (e.g. ``"lv"``,
            ``"breast_lesion"``) or :class:`USStructureCode` objects; names become the segment labels.
        out_path: the SEG file to write.
        frame_index: 0-based frame of a multi-frame source (required there); None or 0 for single-frame sources.
        crop_offset: full-frame ``(x0, y0)`` (column, row) of the first mask pixel (reader metadata ``crop_offset``)
            when the masks cover the region crop only; the rest of the frame is background.
        reverse_indexing: masks are ``(..., X, Y)`` (x = column first, the reader's default layout) instead of
            ``(..., H, W)``.
        segmentation_type: ``"binary"`` (1 bit, the default; best viewer support) or ``"fractional"`` (8-bit
            probability, max 255).
        keyframe_path: where to save the key frame of a clip (default ``<out stem>_keyframe<frame number>.dcm``).
        series_instance_uid: SEG series (default: new); pass one UID to group the SEGs of several key frames.
        series_number: SEG SeriesNumber.
        sop_instance_uid: SEG SOPInstanceUID (default: new).
        instance_number: SEG InstanceNumber.
        keyframe_series_instance_uid: key-frame series (default: derived from the clip series).
        manufacturer: equipment Manufacturer of the SEG.
        manufacturer_model_name: equipment model name.
        device_serial_number: equipment serial number.
        algorithm_name: Segment Algorithm Name.
        algorithm_version: algorithm version (default: the monai_ext version).
        series_description: SEG SeriesDescription (None: none).
        decoding_plugin: pydicom plugin used to decode a clip frame for the key frame.

    Returns:
        a :class:`USSegResult`.

    Raises:
        ValueError / TypeError: bad masks, names or frame index, with the source file named.
    """
    name = source_name(source)
    structures = resolve_structure_names(structure_names)
    seg_type = str(segmentation_type).lower()
    if seg_type not in ("binary", "fractional"):
        raise ValueError(f"segmentation_type must be 'binary' or 'fractional', got {segmentation_type!r}.")
    header = complete_source_header(read_source_header(source), name)
    n_frames = count_frames(header)
    out_path = Path(out_path)
    keyframe_out: Path | None = None
    frame_number: int | None = None
    if n_frames > 1:
        if frame_index is None:
            raise ValueError(
                f"{name}: multi-frame source ({n_frames} frames): pass frame_index (a key frame). highdicom cannot "
                "reference a clip frame without a Frame of Reference (docs/methods/ultrasound-dicom.md, 'DICOM SEG'); "
                "write whole clips with write_us_contour_sr."
            )
        keyframe_out = Path(keyframe_path) if keyframe_path is not None else out_path.with_name(
            f"{out_path.stem}_keyframe{int(frame_index) + 1}.dcm"
        )
        referenced = write_us_keyframe(
            source,
            frame_index,
            keyframe_out,
            series_instance_uid=keyframe_series_instance_uid,
            decoding_plugin=decoding_plugin,
        )
        del referenced.PixelData  # highdicom only needs the header
        frame_number = int(frame_index) + 1
    else:
        if frame_index not in (None, 0):
            raise ValueError(f"{name}: single-frame source, frame_index must be None or 0, got {frame_index!r}.")
        referenced = header

    rows, columns = int(referenced.Rows), int(referenced.Columns)
    per_structure = _seg_masks(
        masks, len(structures), rows, columns, crop_offset, reverse_indexing, seg_type == "fractional", name
    )
    pixel_array = np.moveaxis(per_structure, 0, -1)[None]  # (1 frame, rows, columns, segments)
    version = resolve_algorithm_version(algorithm_version)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name, version=version, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i + 1,
            segment_label=label[:64],
            segmented_property_category=code.category,
            segmented_property_type=code.property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            anatomic_regions=list(code.anatomic_regions) or None,
        )
        for i, (label, code) in enumerate(structures)
    ]
    seg = hd.seg.Segmentation(
        source_images=[referenced],
        pixel_array=pixel_array,
        segmentation_type=(
            hd.seg.SegmentationTypeValues.BINARY if seg_type == "binary" else hd.seg.SegmentationTypeValues.FRACTIONAL
        ),
        segment_descriptions=descriptions,
        series_instance_uid=series_instance_uid or hd.UID(),
        series_number=int(series_number),
        sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=int(instance_number),
        manufacturer=manufacturer,
        manufacturer_model_name=manufacturer_model_name,
        software_versions=f"monai_ext {version}",
        device_serial_number=device_serial_number,
        omit_empty_frames=False,
    )
    _finish_seg(seg, referenced, series_description)
    with atomic_output(out_path) as tmp:
        seg.save_as(tmp)
    flat = per_structure.reshape(len(structures), -1)
    return USSegResult(
        seg_path=out_path,
        keyframe_path=keyframe_out,
        referenced_sop_instance_uid=str(referenced.SOPInstanceUID),
        source_frame_number=frame_number,
        segment_numbers={label: i + 1 for i, (label, _) in enumerate(structures)},
        empty_structures=[label for (label, _), row in zip(structures, flat) if not row.any()],
    )


def _finish_seg(seg: Dataset, referenced: Dataset, series_description: str | None) -> None:
    """Attributes highdicom leaves out for sources without a patient coordinate system."""
    shared = seg.get("SharedFunctionalGroupsSequence")
    has_orientation = bool(shared) and "PlaneOrientationSequence" in shared[0]
    if not has_orientation and "PatientOrientation" not in seg:
        # General Image: Type 2C when there is no Image Orientation (Patient): copy it, or empty = unknown
        seg.PatientOrientation = referenced.get("PatientOrientation", "")
    if series_description:
        seg.SeriesDescription = str(series_description)[:64]

