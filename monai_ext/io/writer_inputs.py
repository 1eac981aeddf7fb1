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

"""The source header and mask checks shared by the DICOM SEG, SR, key-frame and NIfTI writers.

Moved out of :mod:`monai_ext.io.seg_writer`, whose private helpers the other writers imported. It holds:

- :func:`source_name` (how messages name a source), :func:`read_source_header` (a pixel-free copy of the source
  header) and :func:`complete_source_header`: real exports often lack Type 2 attributes (PatientID, StudyTime, ...);
  highdicom reads them unconditionally, so the writers work on a copy of the source header in which missing Type 2
  attributes are present and empty (what the standard allows for "unknown"). Missing Type 1 identifiers (UIDs, Rows,
  Columns) are an error;
- :func:`count_frames` (NumberOfFrames, at least 1);
- :func:`masks_to_numpy`, :func:`check_label_map` and :func:`check_binary_masks`: masks as numpy arrays, validated;
- :func:`resolve_algorithm_version`: the algorithm version written into the objects (default: the package's).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

__all__ = [
    "check_binary_masks",
    "check_label_map",
    "complete_source_header",
    "count_frames",
    "masks_to_numpy",
    "read_source_header",
    "resolve_algorithm_version",
    "source_name",
]

# Type 2 attributes of the Patient / General Study modules that highdicom copies from the source unconditionally.
_TYPE2_DEFAULTS = {
    "PatientName": "",
    "PatientID": "",
    "PatientBirthDate": "",
    "PatientSex": "",
    "StudyDate": "",
    "StudyTime": "",
    "ReferringPhysicianName": "",
    "StudyID": "",
    "AccessionNumber": "",
}
_TYPE1_REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows", "Columns")


def source_name(source: Any) -> str:
    """How messages name a source: a dataset's ``filename`` (``"<dataset>"`` without one), else the path as text.

    Args:
        source: a path or a pydicom dataset.

    Returns:
        the name.
    """
    if isinstance(source, Dataset):
        return str(getattr(source, "filename", None) or "<dataset>")
    return str(source)


def read_source_header(source: str | os.PathLike | Dataset) -> Dataset:
    """A copy of the source header without pixel data (the source is never modified).

    Args:
        source: a DICOM file or a dataset (its elements and file meta are deep-copied, pixel data left out).

    Returns:
        the header.

    Raises:
        FileNotFoundError: the path is not a file.
        ValueError: the file cannot be read as DICOM (the message names it).
    """
    if isinstance(source, Dataset):
        header = Dataset()
        for elem in source:
            if elem.keyword not in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
                header.add(copy.deepcopy(elem))
        if hasattr(source, "file_meta"):
            header.file_meta = copy.deepcopy(source.file_meta)
        return header
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such source DICOM file.")
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as e:  # pydicom raises many error types on corrupt files
        raise ValueError(f"{path}: cannot read the DICOM header ({type(e).__name__}: {e}).") from None


def complete_source_header(header: Dataset, name: str) -> Dataset:
    """Check the Type 1 identifiers and add missing Type 2 attributes as empty values (in place).

    Args:
        header: a source header (from :func:`read_source_header`), modified in place.
        name: the source's name for messages.

    Returns:
        ``header``.

    Raises:
        ValueError: a Type 1 identifier (SOP class / instance, study, series UID, Rows, Columns) is missing or empty.
    """
    missing = [k for k in _TYPE1_REQUIRED if not header.get(k)]
    if missing:
        raise ValueError(f"{name}: the source lacks required attribute(s) {missing}; it cannot be referenced.")
    for keyword, value in _TYPE2_DEFAULTS.items():
        if keyword not in header:
            setattr(header, keyword, value)
    return header


def count_frames(header: Dataset) -> int:
    """NumberOfFrames of a header, 1 when absent, empty or not a number (and never below 1).

    Args:
        header: a DICOM header.

    Returns:
        the number of frames.
    """
    try:
        return max(int(header.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


def masks_to_numpy(masks: Any, name: str) -> np.ndarray:
    """Masks as a numpy array: torch tensors (``MetaTensor`` included) are detached and moved to the CPU.

    Args:
        masks: array-like masks.
        name: the argument's name for messages.

    Returns:
        the array (no copy when ``masks`` already is one).

    Raises:
        TypeError: ``masks`` is not array-like.
    """
    if hasattr(masks, "detach"):  # torch.Tensor / MetaTensor
        masks = masks.detach().cpu().numpy()
    try:
        return np.asarray(masks)
    except Exception as e:
        raise TypeError(f"{name} must be array-like, got {type(masks).__name__} ({e}).") from None


def check_label_map(label_map: np.ndarray, n_structures: int, name: str) -> np.ndarray:
    """Validate an integer label map with values ``0..n_structures`` (linear time: clips can be large).

    Args:
        label_map: the label map (integer, or float holding integers).
        n_structures: the number of structures (label ``i`` is structure ``i``, 0 the background).
        name: the source's name for messages.

    Returns:
        ``label_map`` unchanged.

    Raises:
        TypeError: a dtype that is neither integer nor float.
        ValueError: fractional values, or values outside ``0..n_structures`` (they are listed).
    """
    if label_map.dtype.kind == "f":
        if not np.all(np.mod(label_map, 1) == 0):
            raise ValueError(f"{name}: a label map must hold integers 0..{n_structures}, got fractional values.")
    elif label_map.dtype.kind not in "biu":
        raise TypeError(f"{name}: a label map must be integer, got dtype {label_map.dtype}.")
    if label_map.size and (label_map.min() < 0 or label_map.max() > n_structures):
        bad = np.unique(label_map[(label_map < 0) | (label_map > n_structures)]).tolist()
        raise ValueError(
            f"{name}: label values {bad} do not name a structure; expected 0 (background) .. {n_structures} "
            f"(one per structure name)."
        )
    return label_map


def check_binary_masks(masks: np.ndarray, name: str) -> np.ndarray:
    """Per-structure masks as bool, refusing anything but 0/1 values.

    Args:
        masks: bool, or numeric with values 0 and 1 only.
        name: the source's name for messages.

    Returns:
        a bool array (``masks`` itself when it already is one).

    Raises:
        ValueError: values other than 0 / 1 (probabilities: threshold them, or write a FRACTIONAL SEG).
    """
    if masks.dtype == bool:
        return masks
    if masks.dtype.kind not in "biuf" or not ((masks == 0) | (masks == 1)).all():
        raise ValueError(
            f"{name}: per-structure masks must be binary (0/1 or bool); threshold probabilities first, or write "
            "segmentation_type='fractional'."
        )
    return masks.astype(bool)


def resolve_algorithm_version(version: str | None) -> str:
    """The algorithm version written into SEG / SR objects.

    Args:
        version: the caller's version; None or empty for the default.

    Returns:
        ``version`` as text, or the monai_ext version.
    """
    if version:
        return str(version)
    from monai_ext import __version__

    return __version__
