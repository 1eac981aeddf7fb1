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

"""Phantom ultrasound cine clips as valid DICOM (Ultrasound Multi-frame Image Storage) with ground-truth masks.

A clip is a beating heart from the cardiac phantom of :mod:`monai_ext.data.phantom` (one
:class:`~monai_ext.data.phantom.USCardiacPatient` rendered at successive phases of the cardiac cycle), laid out like a
scanner export: a header bar of burned-in "text" above the image, the sector below it, depth ticks and a marker
burned into the image area outside the fan, ``SequenceOfUltrasoundRegions`` calibration (cm units, region = the
sector bounding box), cine timing (FrameTime, CineRate) and deterministic UIDs derived from the seed.

Encodings: uncompressed MONOCHROME2 (Explicit VR Little Endian) by default; ``jpeg=True`` writes JPEG Baseline
(Process 1) YBR_FULL_422 like most cine exports. pydicom 3 has no JPEG Baseline encoder (it encodes RLE, JPEG-LS
and JPEG 2000 only) and pylibjpeg-libjpeg only decodes, so each frame is encoded with Pillow (grey replicated to
RGB, 4:2:2 chroma subsampling) and encapsulated with ``pydicom.encaps.encapsulate`` (with a Basic Offset Table).
RLE Lossless can be produced afterwards with pydicom alone: ``ds.compress(pydicom.uid.RLELossless)``.

Ground truth is saved beside the clip as ``<out stem>_masks.npz`` (``numpy.load``):

- ``masks``: ``(T, Rows, Columns)`` uint8 label maps in full-frame pixel coordinates (0 background, 1 LV cavity,
  2 myocardium, 3 LA — the cardiac labels of the phantom);
- ``overlay``: ``(Rows, Columns)`` bool, every burned-in static graphic (header bar, depth ticks, marker);
- ``region_box``: ``(x0, y0, x1, y1)`` inclusive, as in the DICOM region; ``spacing_mm``: ``(dx, dy)``;
- ``t_ms``: ``(T,)`` frame times; ``phases``: ``(T,)`` cardiac phases in [0, 1); ``labels``: JSON
  ``{"lv": 1, "myocardium": 2, "la": 3}``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import PYDICOM_ROOT_UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

__all__ = ["PHANTOM_CLIP_TASKS", "PHANTOM_CLIP_DEPTH_CM", "phantom_clip_masks_path", "write_phantom_clip"]

PHANTOM_CLIP_TASKS = ("cardiac",)
"""Tasks with a time-varying phantom (the breast and thyroid phantoms have no motion model)."""

PHANTOM_CLIP_DEPTH_CM = {"cardiac": 16.0}
"""Physical height of the phantom image (cm), which sets the region calibration (typical apical echo depth)."""

_US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
_CARDIAC_LABELS = {"lv": 1, "myocardium": 2, "la": 3}
_OVERLAY_VALUE = 220  # grey level of the burned-in graphics


def phantom_clip_masks_path(out: str | os.PathLike) -> Path:
    """Where :func:`write_phantom_clip` saves the ground truth of the clip ``out``: ``<stem>_masks.npz``."""
    out = Path(out)
    return out.with_name(f"{out.stem}_masks.npz")


def _uid(*parts: object) -> str:
    # Deterministic UIDs under pydicom's root: the same seed/task/settings give the same UIDs on every run.
    return generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["monai_ext phantom clip", *map(str, parts)])


def _burned_in_graphics(
    rows: int, columns: int, pad_top: int, fov: np.ndarray, px_per_cm: float, rng: np.random.Generator
) -> np.ndarray:
    """Static graphics a scanner burns into every frame: header-bar "text", depth ticks, an orientation marker."""
    graphics = np.zeros((rows, columns), dtype=bool)
    # header bar: rows of character-sized blocks (no real text, so no PHI)
    glyph_w, glyph_h = max(columns // 64, 2), max(pad_top // 3, 2)
    for line, y in enumerate((max(pad_top // 6, 0), max(pad_top // 6, 0) + glyph_h + 1)):
        x = 2 + line * 3 * glyph_w
        while x + glyph_w < columns // 2 + line * columns // 4:
            if rng.random() < 0.75:
                graphics[y : min(y + glyph_h, pad_top), x : x + glyph_w] = True
            x += glyph_w + max(glyph_w // 2, 1)
    # depth ticks every cm along the right edge of the image, where the fan does not reach
    tick_len = max(columns // 64, 2)
    image = np.zeros_like(fov)
    for k in range(1, 64):
        y = int(round(k * px_per_cm))
        if y >= fov.shape[0]:
            break
        image[y, columns - tick_len : columns] = True
    # orientation marker near the top-left corner of the image
    m = max(columns // 64, 2)
    image[2 * m : 3 * m, 3 * m : 4 * m] = True
    image &= ~fov  # never over the anatomy
    graphics[pad_top:] |= image
    return graphics


def _region_item(box: tuple[int, int, int, int], apex: tuple[float, float], delta_cm: float) -> Dataset:
    x0, y0, x1, y1 = box
    item = Dataset()
    item.RegionSpatialFormat = 1  # 2D
    item.RegionDataType = 1  # tissue
    item.RegionFlags = 0
    item.RegionLocationMinX0 = x0
    item.RegionLocationMinY0 = y0
    item.RegionLocationMaxX1 = x1
    item.RegionLocationMaxY1 = y1
    item.ReferencePixelX0 = int(round(apex[0])) - x0  # the transducer (fan apex), relative to the region
    item.ReferencePixelY0 = int(round(apex[1])) - y0
    item.PhysicalUnitsXDirection = 3  # cm
    item.PhysicalUnitsYDirection = 3
    item.ReferencePixelPhysicalValueX = 0.0
    item.ReferencePixelPhysicalValueY = 0.0
    item.PhysicalDeltaX = float(delta_cm)
    item.PhysicalDeltaY = float(delta_cm)
    return item


def _jpeg_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    from PIL import Image

    encoded = []
    for frame in frames:
        buf = io.BytesIO()
        # grey -> RGB so that Pillow writes YCbCr with 4:2:2 subsampling = DICOM YBR_FULL_422
        Image.fromarray(np.repeat(frame[..., None], 3, axis=-1), mode="RGB").save(
            buf, format="JPEG", quality=quality, subsampling=1
        )
        encoded.append(buf.getvalue())
    return encoded


def write_phantom_clip(
    out: str | os.PathLike,
    task: str = "cardiac",
    frames: int = 60,
    size: int = 256,
    seed: int = 0,
    jpeg: bool = False,
    *,
    jpeg_quality: int = 90,
    frame_time_ms: float = 33.333,
    heart_rate_bpm: float | None = None,
) -> tuple[Path, np.ndarray]:
    """Write a phantom ultrasound cine clip as an Ultrasound Multi-frame Image Storage DICOM file.

    Args:
        out: output file (parent folders are created); the masks go to ``<out stem>_masks.npz`` beside it.
        task: phantom task; only ``"cardiac"`` (a beating heart, apical view) has motion.
        frames: number of frames (>= 1).
        size: phantom image height and width in pixels (>= 32); the DICOM frame is ``size + size // 8`` rows
            (header bar) by ``size`` columns.
        seed: fixes the heart, probe, speckle, heart rate, graphics and the UIDs.
        jpeg: encode JPEG Baseline (YBR_FULL_422, lossy) instead of uncompressed MONOCHROME2.
        jpeg_quality: Pillow JPEG quality (1-95).
        frame_time_ms: FrameTime (CineRate = round(1000 / frame_time_ms)).
        heart_rate_bpm: heart rate; None draws it from the seed in [60, 90).

    Returns:
        ``(path, masks)``: the written file and the ``(T, Rows, Columns)`` uint8 ground-truth label maps.
    """
    from monai_ext.data.phantom import make_cardiac_frame, make_cardiac_params

    if task not in PHANTOM_CLIP_TASKS:
        raise ValueError(f"task must be one of {PHANTOM_CLIP_TASKS} for a clip, got {task!r}.")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames must be a positive int, got {frames!r}.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an int >= 32, got {size!r}.")
    if not 1 <= int(jpeg_quality) <= 95:
        raise ValueError(f"jpeg_quality must be in [1, 95], got {jpeg_quality}.")
    if not frame_time_ms > 0:
        raise ValueError(f"frame_time_ms must be positive, got {frame_time_ms}.")
    frames, size = int(frames), int(size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    params = make_cardiac_params(rng)
    hr = float(heart_rate_bpm) if heart_rate_bpm is not None else float(rng.uniform(60.0, 90.0))
    if not hr > 0:
        raise ValueError(f"heart_rate_bpm must be positive, got {heart_rate_bpm}.")
    period_ms = 60000.0 / hr
    t_ms = np.arange(frames, dtype=np.float64) * float(frame_time_ms)
    phases = (t_ms / period_ms) % 1.0

    pad_top = max(size // 8, 4)
    rows, columns = size + pad_top, size
    pixels = np.zeros((frames, rows, columns), dtype=np.uint8)
    masks = np.zeros((frames, rows, columns), dtype=np.uint8)
    for i, phase in enumerate(phases):
        image, mask = make_cardiac_frame(size, params, phase=float(phase))
        pixels[i, pad_top:] = image
        masks[i, pad_top:] = mask

    fov = params.geometry.fov(size)
    ys, xs = np.nonzero(fov)
    box = (int(xs.min()), int(ys.min()) + pad_top, int(xs.max()), int(ys.max()) + pad_top)
    delta_cm = PHANTOM_CLIP_DEPTH_CM[task] / size
    overlay = _burned_in_graphics(rows, columns, pad_top, fov, 1.0 / delta_cm, rng)
    pixels[:, overlay] = _OVERLAY_VALUE
    apex = (params.geometry.apex_x * size, params.geometry.apex_y * size + pad_top)

    tags = (task, seed)
    instance = (task, seed, frames, size, "jpeg" if jpeg else "raw", jpeg_quality, frame_time_ms, hr)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "PRIMARY"]  # synthetic
    ds.SOPClassUID = _US_MULTIFRAME
    ds.SOPInstanceUID = _uid("instance", *instance)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "US"
    # not "monai_ext": that Manufacturer marks the toolkit's own outputs, which serve-dicomweb never segments again
    ds.Manufacturer = "monai_ext phantom"
    ds.ManufacturerModelName = "phantom clip"
    ds.SoftwareVersions = "monai_ext phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"Phantom {task} echo"
    ds.SeriesDescription = f"Phantom {task} cine"
    ds.PatientName = f"PHANTOM^{task.upper()}"
    ds.PatientID = f"PHANTOM-{task.upper()}-{seed:06d}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientIdentityRemoved = "YES"  # nothing to remove: synthetic
    ds.DeidentificationMethod = "synthetic phantom, no patient data"
    ds.StudyInstanceUID = _uid("study", *tags)
    ds.SeriesInstanceUID = _uid("series", *tags)
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.BodyPartExamined = "HEART"  # unpaired: no Laterality
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ImageComments = "Synthetic ultrasound phantom (monai_ext); not patient data"
    ds.BurnedInAnnotation = "NO"  # graphics only, no identifying text
    # cine
    ds.FrameTime = f"{float(frame_time_ms):.3f}"
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.CineRate = int(round(1000.0 / float(frame_time_ms)))
    ds.RecommendedDisplayFrameRate = ds.CineRate
    ds.HeartRate = int(round(hr))
    ds.EffectiveDuration = f"{frames * float(frame_time_ms) / 1000.0:.4f}"
    ds.PreferredPlaybackSequencing = 0  # looping
    ds.SequenceOfUltrasoundRegions = [_region_item(box, apex, delta_cm)]

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if jpeg:
        encoded = _jpeg_frames(pixels, int(jpeg_quality))
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PlanarConfiguration = 0
        ds.Rows, ds.Columns = rows, columns
        ds.NumberOfFrames = frames
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = f"{pixels.nbytes * 3 / sum(len(b) for b in encoded):.2f}"[:16]
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.PixelData = encapsulate(encoded, has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.set_pixel_data(pixels, photometric_interpretation="MONOCHROME2", bits_stored=8, generate_instance_uid=False)
        ds.LossyImageCompression = "00"
    ds.save_as(out, enforce_file_format=True)

    np.savez_compressed(
        phantom_clip_masks_path(out),
        masks=masks,
        overlay=overlay,
        region_box=np.asarray(box, dtype=np.int64),
        spacing_mm=np.asarray([delta_cm * 10.0, delta_cm * 10.0]),
        t_ms=t_ms,
        phases=phases,
        labels=np.asarray(json.dumps(_CARDIAC_LABELS)),
    )
    return out, masks
