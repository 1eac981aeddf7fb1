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

"""DICOM SEG output for ultrasound segmentations with highdicom (spec: ultrasound-dicom.md §6.1, §6.2, §6.5).

- :func:`write_us_seg` writes a BINARY (default) or FRACTIONAL Segmentation (one segment per structure) that references
  one single-frame ultrasound image.
- Multi-frame sources (cine clips) usually have no Frame of Reference, and highdicom then supports a single source
  frame only (highdicom#284). Following spec §6.2 option 2, :func:`write_us_keyframe` first derives a new single-frame
  Ultrasound Image Storage instance from the chosen frame (new UIDs, ``ImageType`` DERIVED, Source Image Sequence with
  the ReferencedFrameNumber of the clip frame) and the SEG references that key frame. A Frame of Reference or plane
  positions are never invented (§6.2 rule 5). Whole clips go to :func:`monai_ext.io.write_us_contour_sr`.
- :data:`US_STRUCTURE_CODES` maps structure names to SNOMED CT concepts (segmented property category / type,
  anatomic region).

Real exports often lack Type 2 attributes (PatientID, StudyTime, ...) or PatientOrientation; highdicom reads them
unconditionally, so the writers work on a copy of the source header in which missing Type 2 attributes are present and
empty (what the standard allows for "unknown"). Missing Type 1 identifiers (UIDs, Rows, Columns) are an error.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import PYDICOM_ROOT_UID, UID, ExplicitVRLittleEndian, generate_uid

from monai_ext.utils.atomic import atomic_output

from .dicom_header import drop_us_regions_outside

__all__ = [
    "USStructureCode",
    "US_STRUCTURE_CODES",
    "resolve_us_structure",
    "USSegResult",
    "write_us_keyframe",
    "write_us_seg",
]

US_IMAGE_STORAGE_UID = "1.2.840.10008.5.1.4.1.1.6.1"


@dataclass(frozen=True)
class USStructureCode:
    """Coded concepts of one segmented structure (DICOM Segment Description / TID 1500 finding).

    Args:
        category: Segmented Property Category (CID 7150), e.g. ``codes.SCT.AnatomicalStructure``.
        property_type: Segmented Property Type (CID 7151 and friends), e.g. ``codes.SCT.LeftVentricle``; also the
            finding type of the SR measurement groups.
        anatomic_regions: Anatomic Region Sequence items (and SR finding sites), e.g. ``(codes.SCT.Breast,)``.
        procedure: the imaging procedure an SR reports for this structure (TID 1500 "Procedure reported").
    """

    category: Code
    property_type: Code
    anatomic_regions: tuple[Code, ...] = ()
    procedure: Code = field(default=codes.SCT.DiagnosticUltrasonography)


_LV = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.LeftVentricle, procedure=codes.SCT.Echocardiography)
_LV_MYO = USStructureCode(codes.SCT.Tissue, codes.SCT.LeftVentricleMyocardium, procedure=codes.SCT.Echocardiography)
_LA = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.LeftAtrium, procedure=codes.SCT.Echocardiography)
_RV = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.RightVentricle, procedure=codes.SCT.Echocardiography)
_RA = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.RightAtrium, procedure=codes.SCT.Echocardiography)

US_STRUCTURE_CODES: dict[str, USStructureCode] = {
    # lesions (BUSI-style breast ultrasound: the default meaning of "lesion" in this project is not assumed;
    # "breast_lesion" adds the anatomic region)
    "lesion": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion),
    "breast_lesion": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion, (codes.SCT.Breast,)),
    "breast_mass": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Mass, (codes.SCT.Breast,)),
    "mass": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Mass),
    "nodule": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Nodule),
    "thyroid_nodule": USStructureCode(
        codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Nodule, (codes.SCT.Thyroid,)
    ),
    "cyst": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Cyst),
    # echocardiography (CAMUS-style labels; "myocardium" is the LV myocardium, as in the cardiac phantom)
    "lv": _LV,
    "left_ventricle": _LV,
    "lv_cavity": _LV,
    "lv_endocardium": _LV,
    "myocardium": _LV_MYO,
    "lv_myocardium": _LV_MYO,
    "la": _LA,
    "left_atrium": _LA,
    "rv": _RV,
    "right_ventricle": _RV,
    "ra": _RA,
    "right_atrium": _RA,
    "myocardium_generic": USStructureCode(
        codes.SCT.Tissue, Code("74281007", "SCT", "Myocardium"), procedure=codes.SCT.Echocardiography
    ),
    "heart": USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.Heart, procedure=codes.SCT.Echocardiography),
    # organs / vessels
    "thyroid": USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.Thyroid),
    "common_carotid_artery": USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.CommonCarotidArtery),
}
"""Structure name (lower case) -> SNOMED CT concepts, per spec §6.5. Aliases share one entry."""


def resolve_us_structure(structure: str | USStructureCode) -> USStructureCode:
    """The coded concepts of a structure given by name (case-insensitive, ``-``/space = ``_``) or as a code.

    Raises:
        ValueError: an unknown name (the message lists the known names).
        TypeError: neither a string nor a :class:`USStructureCode`.
    """
    if isinstance(structure, USStructureCode):
        return structure
    if not isinstance(structure, str):
        raise TypeError(f"a structure must be a name or a USStructureCode, got {type(structure).__name__}.")
    key = structure.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in US_STRUCTURE_CODES:
        raise ValueError(
            f"unknown structure {structure!r}; known names: {sorted(US_STRUCTURE_CODES)} "
            "(or pass a USStructureCode with your own codes)."
        )
    return US_STRUCTURE_CODES[key]


# ------------------------------------------------------------------------------------------------ shared helpers

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

# Attributes of a cine clip that have no meaning for one derived frame (or are replaced by the new pixel module).
_MULTIFRAME_ONLY = (
    "NumberOfFrames",
    "FrameIncrementPointer",
    "FrameTime",
    "FrameTimeVector",
    "FrameDelay",
    "FrameLabelVector",
    "CineRate",
    "RecommendedDisplayFrameRate",
    "ActualFrameDuration",
    "StartTrim",
    "StopTrim",
    "EffectiveDuration",
    "PreferredPlaybackSequencing",
    "MultiFrameSourceSOPInstanceUID",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "PixelDataProviderURL",
    "PlanarConfiguration",
    "PixelAspectRatio",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SourceImageSequence",
    "DerivationDescription",
    "DerivationCodeSequence",
    "InstanceCreationDate",
    "InstanceCreationTime",
)
# BodyPartExamined values of paired structures (for the Laterality Type 2C condition of derived key frames)
_PAIRED_BODY_PARTS = frozenset(
    "BREAST EYE EAR KIDNEY LUNG OVARY TESTIS ADRENAL HAND FOOT KNEE HIP SHOULDER ELBOW WRIST ANKLE ARM LEG FEMUR TIBIA "
    "HUMERUS CLAVICLE AXILLA PAROTID SUBMANDIBULAR CAROTID JUGULARV FALLOPIANTUBE EXTREMITY UPRLIMB LWRLIMB".split()
)
_LOSSY_METHODS = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",
}


def _source_name(source: Any) -> str:
    if isinstance(source, Dataset):
        return str(getattr(source, "filename", None) or "<dataset>")
    return str(source)


def _read_header(source: str | os.PathLike | Dataset) -> Dataset:
    """A copy of the source header without pixel data (the source is never modified)."""
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


def _complete_header(header: Dataset, name: str) -> Dataset:
    """Check the Type 1 identifiers and add missing Type 2 attributes as empty values (in place)."""
    missing = [k for k in _TYPE1_REQUIRED if not header.get(k)]
    if missing:
        raise ValueError(f"{name}: the source lacks required attribute(s) {missing}; it cannot be referenced.")
    for keyword, value in _TYPE2_DEFAULTS.items():
        if keyword not in header:
            setattr(header, keyword, value)
    return header


def _n_frames(header: Dataset) -> int:
    try:
        return max(int(header.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


def _to_numpy(masks: Any, name: str) -> np.ndarray:
    if hasattr(masks, "detach"):  # torch.Tensor / MetaTensor
        masks = masks.detach().cpu().numpy()
    try:
        return np.asarray(masks)
    except Exception as e:
        raise TypeError(f"{name} must be array-like, got {type(masks).__name__} ({e}).") from None


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


def _check_labels(label_map: np.ndarray, n_structures: int, name: str) -> np.ndarray:
    """Validate an integer label map with values ``0..n_structures`` (linear time: clips can be large)."""
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


def _split_labels(label_map: np.ndarray, n_structures: int, name: str) -> np.ndarray:
    """``(..., H, W)`` integer label map with values ``0..n`` -> ``(..., n, H, W)`` bool."""
    _check_labels(label_map, n_structures, name)
    return np.stack([label_map == i for i in range(1, n_structures + 1)], axis=-3)


def _check_binary(masks: np.ndarray, name: str) -> np.ndarray:
    if masks.dtype == bool:
        return masks
    if masks.dtype.kind not in "biuf" or not ((masks == 0) | (masks == 1)).all():
        raise ValueError(
            f"{name}: per-structure masks must be binary (0/1 or bool); threshold probabilities first, or write "
            "segmentation_type='fractional'."
        )
    return masks.astype(bool)


def _algorithm_version(version: str | None) -> str:
    if version:
        return str(version)
    from monai_ext import __version__

    return __version__


def _uid_from(*parts: object) -> UID:
    # Deterministic UIDs for derived key frames: re-deriving the same frame gives the same instance.
    return generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["monai_ext us keyframe", *map(str, parts)])


def _structure_names(structure_names: Sequence[str | USStructureCode]) -> list[tuple[str, USStructureCode]]:
    if isinstance(structure_names, (str, USStructureCode)) or not isinstance(structure_names, Sequence):
        raise TypeError("structure_names must be a sequence of names (or USStructureCode), one per structure.")
    if len(structure_names) == 0:
        raise ValueError("structure_names is empty.")
    out = []
    for s in structure_names:
        code = resolve_us_structure(s)
        label = s if isinstance(s, str) else f"{code.property_type.meaning}"
        out.append((label, code))
    labels = [label for label, _ in out]
    if len({label.strip().lower() for label in labels}) != len(labels):
        raise ValueError(f"structure_names must be unique, got {labels}.")
    return out


# ------------------------------------------------------------------------------------------------ key frames


def write_us_keyframe(
    source: str | os.PathLike | Dataset,
    frame_index: int,
    out_path: str | os.PathLike | None = None,
    *,
    series_instance_uid: str | None = None,
    series_number: int = 900,
    sop_instance_uid: str | None = None,
    decoding_plugin: str = "",
) -> Dataset:
    """Derive a single-frame Ultrasound Image Storage instance from one frame of a clip (spec §6.2 option 2).

    The new instance keeps the patient, study, equipment and ultrasound-region attributes of the source, gets a new
    series (``ImageType`` DERIVED) and points back to the clip frame through Source Image Sequence /
    ReferencedFrameNumber. Pixels are the decoded frame, stored uncompressed: MONOCHROME2 and PALETTE COLOR as
    they are, YBR/RGB as RGB, MONOCHROME1 (not allowed in US) inverted to MONOCHROME2. Lossy history is kept
    (LossyImageCompression "01"). By default the UIDs are derived from the source instance and frame, so key frames
    of one clip share a series and re-deriving a frame gives the same instance.

    Args:
        source: the clip (path, or a dataset that includes its pixel data).
        frame_index: 0-based frame of the source.
        out_path: where to save the instance (not saved when None).
        series_instance_uid: series of the key frame (default: derived from the source series).
        series_number: SeriesNumber of the key-frame series.
        sop_instance_uid: SOPInstanceUID of the key frame (default: derived from source instance and frame).
        decoding_plugin: pydicom decoding plugin ("" = pydicom's choice).

    Returns:
        the key-frame dataset (with file meta), also saved to ``out_path`` when given.
    """
    name = _source_name(source)
    header = _complete_header(_read_header(source), name)
    n_frames = _n_frames(header)
    if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)):
        raise TypeError(f"frame_index must be an int, got {type(frame_index).__name__}.")
    if not 0 <= int(frame_index) < n_frames:
        raise ValueError(f"{name}: frame_index {frame_index} is out of range for {n_frames} frame(s).")
    frame_index = int(frame_index)
    if isinstance(source, Dataset) and "PixelData" not in source:
        raise ValueError(f"{name}: the dataset has no pixel data to derive a key frame from.")
    try:
        pixels = pydicom.pixels.pixel_array(
            source if isinstance(source, Dataset) else str(source), index=frame_index, decoding_plugin=decoding_plugin
        )
    except Exception as e:
        raise ValueError(f"{name}: cannot decode frame {frame_index} ({type(e).__name__}: {e}).") from None

    src_sop_class, src_sop_instance = str(header.SOPClassUID), str(header.SOPInstanceUID)
    src_ts = str(header.file_meta.get("TransferSyntaxUID", "")) if hasattr(header, "file_meta") else ""
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    bits_stored = int(header.get("BitsStored") or 8)
    lossy_method = _LOSSY_METHODS.get(src_ts)
    ds = header
    ds.remove_private_tags()
    for keyword in _MULTIFRAME_ONLY:
        if keyword in ds:
            delattr(ds, keyword)
    if photometric == "MONOCHROME1":
        pixels = (2**bits_stored - 1) - pixels  # US allows MONOCHROME2 only; inverting is part of the derivation
        photometric = "MONOCHROME2"
    elif photometric not in ("MONOCHROME2", "PALETTE COLOR"):
        photometric = "RGB"  # pydicom returns RGB for YBR_* (as_rgb) and for RGB / JPEG 2000 YBR_RCT/ICT
    if pixels.ndim == 3 and photometric != "RGB":
        raise ValueError(f"{name}: unexpected decoded frame shape {pixels.shape} for {photometric}.")
    if photometric != "PALETTE COLOR":
        for keyword in list(ds.dir()):
            if "PaletteColorLookupTable" in keyword or keyword == "PaletteColorLookupTableUID":
                delattr(ds, keyword)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(
        pixels, photometric_interpretation=photometric, bits_stored=min(bits_stored, pixels.dtype.itemsize * 8)
    )
    drop_us_regions_outside(ds)  # a region box outside the image is no calibration of the derived pixels
    if lossy_method is not None and ds.get("LossyImageCompression") != "01":
        ds.LossyImageCompression = "01"  # once lossy, always lossy (PS3.3 C.7.6.1.1.5)
        ds.LossyImageCompressionMethod = lossy_method

    ds.SOPClassUID = US_IMAGE_STORAGE_UID
    ds.SOPInstanceUID = sop_instance_uid or _uid_from("instance", src_sop_instance, frame_index)
    ds.SeriesInstanceUID = series_instance_uid or _uid_from("series", header.SeriesInstanceUID)
    ds.SeriesNumber = int(series_number)
    ds.InstanceNumber = frame_index + 1
    ds.Modality = "US"
    # values 3+ are vendor-defined terms that sometimes break the CS character set (e.g. "ABDOM/RAD")
    src_type = [re.sub(r"[^A-Z0-9 _]", "_", str(v).upper()) for v in (ds.get("ImageType") or ["ORIGINAL", "PRIMARY"])]
    ds.ImageType = ["DERIVED", src_type[1] if len(src_type) > 1 and src_type[1] else "PRIMARY", *src_type[2:]]
    description = str(ds.get("SeriesDescription") or "ultrasound clip")
    ds.SeriesDescription = f"Key frames: {description}"[:64]
    ds.DerivationDescription = (f"frame {frame_index + 1} of multi-frame ultrasound image {src_sop_instance}")[:1024]
    ref = Dataset()
    ref.ReferencedSOPClassUID = src_sop_class
    ref.ReferencedSOPInstanceUID = src_sop_instance
    if n_frames > 1:
        ref.ReferencedFrameNumber = frame_index + 1
    purpose = codes.DCM.SourceImageForImageProcessingOperation
    ref.PurposeOfReferenceCodeSequence = [hd.sr.CodedConcept.from_code(purpose)]
    ds.SourceImageSequence = [ref]
    if "PatientOrientation" not in ds:
        ds.PatientOrientation = ""  # Type 2C (no Image Orientation (Patient) in US): empty = unknown
    body_part = str(ds.get("BodyPartExamined") or "").strip().upper()
    if "Laterality" not in ds and "ImageLaterality" not in ds and (not body_part or body_part in _PAIRED_BODY_PARTS):
        ds.Laterality = ""  # General Series Type 2C for (possibly) paired body parts: empty = unknown
    stamp = datetime.now()
    ds.InstanceCreationDate = stamp.strftime("%Y%m%d")
    ds.InstanceCreationTime = stamp.strftime("%H%M%S")
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    if out_path is not None:
        with atomic_output(out_path) as tmp:  # never a half-written file under the final name
            ds.save_as(tmp, enforce_file_format=True)
    return ds


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
    arr = _to_numpy(masks, "masks")
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
            per_structure = _check_binary(arr, name)
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
    """Write a DICOM Segmentation of one ultrasound frame with highdicom (spec §6.1, §6.2).

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
    name = _source_name(source)
    structures = _structure_names(structure_names)
    seg_type = str(segmentation_type).lower()
    if seg_type not in ("binary", "fractional"):
        raise ValueError(f"segmentation_type must be 'binary' or 'fractional', got {segmentation_type!r}.")
    header = _complete_header(_read_header(source), name)
    n_frames = _n_frames(header)
    out_path = Path(out_path)
    keyframe_out: Path | None = None
    frame_number: int | None = None
    if n_frames > 1:
        if frame_index is None:
            raise ValueError(
                f"{name}: multi-frame source ({n_frames} frames): pass frame_index (a key frame). highdicom cannot "
                "reference a clip frame without a Frame of Reference (spec §6.1); write whole clips with "
                "write_us_contour_sr."
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
    version = _algorithm_version(algorithm_version)
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
