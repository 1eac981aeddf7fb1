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

"""Ultrasound label maps as NIfTI research outputs with nibabel (docs/methods/ultrasound-dicom.md, "NIfTI").

A 2D + t label map is stored as ``(x = W, y = H, 1, T)`` with ``affine = diag(dx_mm, dy_mm, 1, 1)`` (origin at the
crop offset in mm), units ``("mm", "sec")``, ``pixdim[4]`` = frame time in seconds and intent ``label``. NIfTI is for
training / evaluation artefacts only, not for PACS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset

from monai_ext.utils.atomic import atomic_output

from .dicom_header import select_us_region
from .writer_inputs import masks_to_numpy, read_source_header, source_name

__all__ = ["write_us_nifti"]


def _source_geometry(source: str | os.PathLike | Dataset) -> tuple[tuple[float, float] | None, float | None]:
    header = read_source_header(source)
    if "Rows" not in header or "Columns" not in header:
        raise ValueError(f"{source_name(source)}: the source has no Rows / Columns.")
    _, spacing, _, _ = select_us_region(header)
    frame_time = float(header.FrameTime) if header.get("FrameTime") and float(header.FrameTime) > 0 else None
    if frame_time is None and header.get("CineRate") and float(header.CineRate) > 0:
        frame_time = 1000.0 / float(header.CineRate)
    if frame_time is None and header.get("FrameTimeVector") is not None:
        vector = [float(v) for v in np.atleast_1d(header.FrameTimeVector)[1:]]  # the first entry is 0
        if vector and all(v > 0 for v in vector):
            frame_time = float(np.mean(vector))
    return spacing, frame_time


def write_us_nifti(
    masks: Any,
    out_path: str | os.PathLike,
    *,
    source: str | os.PathLike | Dataset | None = None,
    spacing_mm: Sequence[float] | None = None,
    frame_time_ms: float | None = None,
    crop_offset: Sequence[int] | None = None,
    reverse_indexing: bool = False,
) -> Path:
    """Save an ultrasound label map (one frame or a clip) as NIfTI.

    Args:
        masks: ``(H, W)`` or ``(T, H, W)`` integer label map (``(X, Y)`` / ``(T, X, Y)`` with ``reverse_indexing``);
            numpy array or torch tensor. Frames are assumed consecutive at ``frame_time_ms``.
        out_path: ``.nii`` or ``.nii.gz`` file.
        source: the source DICOM (path or dataset): spacing from its ultrasound region / PixelSpacing
            (docs/methods/ultrasound-dicom.md, "Region calibration") and the frame time from FrameTime, CineRate or
            FrameTimeVector, unless given explicitly.
        spacing_mm: ``(dx, dy)`` in mm (column, row); None and no calibrated source: 1 with unknown spatial units.
        frame_time_ms: frame interval in ms; None and unknown: 1 with unknown time units.
        crop_offset: full-frame ``(x0, y0)`` of the first mask pixel; the affine origin becomes ``(x0 dx, y0 dy)``.
        reverse_indexing: masks are already in ``(X, Y)`` order (the reader's default layout).

    Returns:
        the written path. A 2D map is stored as ``(W, H)``, a clip as ``(W, H, 1, T)``.
    """
    arr = masks_to_numpy(masks, "masks")
    if arr.ndim not in (2, 3):
        raise ValueError(f"masks must be a (H, W) or (T, H, W) label map, got shape {arr.shape}.")
    if arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
        raise ValueError("masks must be an integer label map (argmax / threshold probabilities first).")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"masks must be numeric, got dtype {arr.dtype}.")
    if arr.size and (arr.min() < 0 or arr.max() > 32767):
        raise ValueError(f"label values must be in [0, 32767], got [{arr.min()}, {arr.max()}].")
    src_spacing, src_frame_time = _source_geometry(source) if source is not None else (None, None)
    spacing = tuple(float(v) for v in spacing_mm) if spacing_mm is not None else src_spacing
    if spacing is not None and (len(spacing) != 2 or min(spacing) <= 0):
        raise ValueError(f"spacing_mm must be two positive numbers (dx, dy), got {spacing_mm!r}.")
    frame_time = float(frame_time_ms) if frame_time_ms is not None else src_frame_time
    if frame_time is not None and frame_time <= 0:
        raise ValueError(f"frame_time_ms must be positive, got {frame_time_ms!r}.")

    dtype = np.uint8 if arr.size == 0 or arr.max() <= 255 else np.int16
    data = arr.astype(dtype)
    if not reverse_indexing:
        data = np.swapaxes(data, -1, -2)  # (..., H, W) -> (..., X = W, Y = H)
    if data.ndim == 3:
        data = np.moveaxis(data, 0, -1)[:, :, None, :]  # (T, X, Y) -> (X, Y, 1, T)
    dx, dy = spacing if spacing is not None else (1.0, 1.0)
    x0, y0 = (int(v) for v in crop_offset) if crop_offset is not None else (0, 0)
    affine = np.diag([dx, dy, 1.0, 1.0])
    affine[:2, 3] = (x0 * dx, y0 * dy)
    image = nib.Nifti1Image(data, affine)
    header = image.header
    header.set_xyzt_units("mm" if spacing is not None else "unknown", "sec" if frame_time is not None else "unknown")
    if data.ndim == 4:
        header["pixdim"][4] = frame_time / 1000.0 if frame_time is not None else 1.0
    header.set_intent("label")
    header["descrip"] = b"monai_ext label map"  # lets a later inference run recognise (and skip) our outputs
    header.set_data_dtype(dtype)
    out_path = Path(out_path)
    with atomic_output(out_path) as tmp:  # never a half-written file under the final name
        nib.save(image, tmp)
    return out_path
