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

"""Key frames of ultrasound clips: single-frame Ultrasound Image Storage instances derived from one clip frame.

Moved out of :mod:`monai_ext.io.seg_writer`. Multi-frame sources (cine clips) usually have no Frame of Reference, and
highdicom then supports a single source frame only (highdicom#284). Following docs/methods/ultrasound-dicom.md, "Key
frames", :func:`write_us_keyframe` derives a new single-frame Ultrasound Image Storage instance from the chosen frame
(new UIDs, ``ImageType`` DERIVED, Source Image Sequence with the ReferencedFrameNumber of the clip frame), which a
DICOM SEG (:func:`monai_ext.io.write_us_seg`) can then reference. A Frame of Reference or plane positions are never
invented (docs/methods/ultrasound-dicom.md, "DICOM SEG").
"""

from __future__ import annotations

import os
import re
from datetime import datetime

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import PYDICOM_ROOT_UID, UID, ExplicitVRLittleEndian, generate_uid

from monai_ext.utils.atomic import atomic_output

from .dicom_header import drop_us_regions_outside
from .writer_inputs import complete_source_header, count_frames, read_source_header, source_name

__all__ = ["US_IMAGE_STORAGE_UID", "write_us_keyframe"]

US_IMAGE_STORAGE_UID = "1.2.840.10008.5.1.4.1.1.6.1"
"""SOP Class UID of Ultrasound Image Storage (the class of the derived key frames)."""

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



def _uid_from(*parts: object) -> UID:
    # Deterministic UIDs for derived key frames: re-deriving the same frame gives the same instance.
    return generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["monai_ext us keyframe", *map(str, parts)])



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
    """Derive a single-frame Ultrasound Image Storage instance from one frame of a clip
    (docs/methods/ultrasound-dicom.md, "Key frames").

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
    name = source_name(source)
    header = complete_source_header(read_source_header(source), name)
    n_frames = count_frames(header)
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
