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

"""Header pass of DICOM ultrasound files: everything checked before any pixel is decoded.

:func:`read_us_header` reads a file up to its pixel data and refuses, with the file and the attribute named, what
would otherwise fail late (after other frames' results were computed) or never: not DICOM, truncated, not
ultrasound, Enhanced US Volume, no pixel data, no decoder for the transfer syntax, and a geometry that does not fit
the pixel data: NumberOfFrames / Rows / Columns of 0, frames larger than PIL's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``), native pixel data shorter than NumberOfFrames x Rows x Columns x SamplesPerPixel x
BitsAllocated / 8 or cut off by the end of the file, and encapsulated pixel data with fewer fragments (or a Basic
Offset Table with another count) than NumberOfFrames or without its end. The pixel-data checks seek over the
fragments, they do not read them.

It also chooses the calibration region and the spacing (:func:`select_us_region`, docs/methods/ultrasound-dicom.md,
"Region calibration") and warns (:class:`USRegionWarning`) about region boxes that lie outside the image; such regions
are ignored, and :func:`drop_us_regions_outside` removes them from datasets derived from the file.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.pixels.utils import get_expected_length

from monai_ext.utils.errors import USInputError

__all__ = [
    "ENHANCED_US_VOLUME_UID",
    "US_SOP_CLASS_UIDS",
    "USCalibrationWarning",
    "USClipHeader",
    "USDicomError",
    "USRegion",
    "USRegionWarning",
    "check_us_decoder",
    "drop_us_regions_outside",
    "read_us_header",
    "select_us_region",
]

US_MULTIFRAME_UID = "1.2.840.10008.5.1.4.1.1.3.1"
US_IMAGE_UID = "1.2.840.10008.5.1.4.1.1.6.1"
US_SOP_CLASS_UIDS = {
    US_MULTIFRAME_UID: "Ultrasound Multi-frame Image Storage",
    US_IMAGE_UID: "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image Storage (Retired)",
}
ENHANCED_US_VOLUME_UID = "1.2.840.10008.5.1.4.1.1.6.2"

# PhysicalUnitsX/YDirection == 3 means centimetres (PS3.3 C.8.5.5.1.15).
_UNITS_CM = 3
# Region data types usable for geometry: 1 tissue, 2 colour flow (PS3.3 C.8.5.5.1.2).
_IMAGING_DATA_TYPES = (1, 2)

# Transfer syntax UID prefixes -> how to get a decoder (pydicom's own messages name plugins, not pip packages).
_INSTALL_HINTS = (
    (
        ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"),
        "pip install pylibjpeg pylibjpeg-libjpeg (or pillow)",
    ),
    (("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"), "pip install pylibjpeg pylibjpeg-libjpeg (or pyjpegls)"),
    (
        (
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.4.202",
            "1.2.840.10008.1.2.4.203",
        ),
        "pip install pylibjpeg pylibjpeg-openjpeg (or pillow built with OpenJPEG)",
    ),
    (("1.2.840.10008.1.2.5",), "pip install pylibjpeg pylibjpeg-rle"),
)


class USDicomError(USInputError):
    """A DICOM file cannot be read as ultrasound; the message names the file and the problem.

    Args:
        path: the offending file.
        problem: what is wrong with it (and, where possible, how to fix it). Omitted, ``path`` is the whole
            message: how torch's DataLoader re-creates an error raised in a worker process, keeping its type.
    """

    def __init__(self, path: str | os.PathLike, problem: str | None = None):
        self.path = str(path) if problem is not None else ""
        self.problem = problem if problem is not None else str(path)
        super().__init__(f"{self.path}: {problem}" if problem is not None else str(path))


class USCalibrationWarning(UserWarning):
    """The physical pixel spacing of an ultrasound image is unknown; results are in pixels."""


class USRegionWarning(UserWarning):
    """An item of SequenceOfUltrasoundRegions has a box outside the image: it is ignored and not copied."""


@dataclass(frozen=True)
class USRegion:
    """One item of ``SequenceOfUltrasoundRegions`` (box inclusive, full-frame pixel coordinates)."""

    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float

    @property
    def box(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass
class USClipHeader:
    """Everything the reader needs from the header of one file (no pixel data is held)."""

    path: str
    dataset: Dataset
    n_frames: int
    rows: int
    columns: int
    photometric: str
    transfer_syntax: str
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int
    region: USRegion | None  # crop region (validated, clamped)
    spacing_xy: tuple[float, float] | None  # (dx, dy) in mm
    spacing_source: str  # "region" | "pixel_spacing" | "none"
    calibration_note: str
    frame_times_ms: list[float] | None  # time stamp of every frame of the file
    time_source: str
    trim: tuple[int, int] | None  # 0-based inclusive frame range from StartTrim/StopTrim
    options: dict = field(default_factory=dict)  # per-read option overrides (``read(data, **kwargs)``)

    @property
    def is_multiframe(self) -> bool:
        return self.n_frames > 1

    @property
    def value_max(self) -> float:
        """Nominal maximum of the stored (or palette-mapped) values."""
        if self.photometric == "PALETTE COLOR":
            return 255.0  # palette output is normalised to 8 bits (16-bit LUT entries / 257)
        return float(2**self.bits_stored - 1)


# ------------------------------------------------------------------------------------------------ header


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _parse_region(item: Dataset) -> USRegion:
    return USRegion(
        x0=_int(item.get("RegionLocationMinX0"), -1),
        y0=_int(item.get("RegionLocationMinY0"), -1),
        x1=_int(item.get("RegionLocationMaxX1"), -1),
        y1=_int(item.get("RegionLocationMaxY1"), -1),
        spatial_format=_int(item.get("RegionSpatialFormat"), 0),
        data_type=_int(item.get("RegionDataType"), 0),
        units_x=_int(item.get("PhysicalUnitsXDirection"), 0),
        units_y=_int(item.get("PhysicalUnitsYDirection"), 0),
        delta_x=float(item.get("PhysicalDeltaX") or 0.0),
        delta_y=float(item.get("PhysicalDeltaY") or 0.0),
    )


def _fit_box(region: USRegion, rows: int, columns: int) -> USRegion | None:
    """Validate a region box against the image; clamp a max-side overflow of exactly one pixel (rule 2)."""
    x1 = columns - 1 if region.x1 == columns else region.x1
    y1 = rows - 1 if region.y1 == rows else region.y1
    if 0 <= region.x0 <= x1 < columns and 0 <= region.y0 <= y1 < rows:
        return replace(region, x1=x1, y1=y1)
    return None


def select_us_region(
    ds: Dataset,
) -> tuple[USRegion | None, tuple[float, float] | None, str, str]:
    """Choose the calibration region and the spacing of an ultrasound header (docs/methods/ultrasound-dicom.md, "Region
    calibration").

    The first region that is 2D (``RegionSpatialFormat == 1``), tissue or colour flow and in cm on both axes
    gives the spacing ``(PhysicalDeltaX * 10, PhysicalDeltaY * 10)`` mm if its box fits the image (an overflow of
    one pixel on the max side is clamped). Without such a region, ``PixelSpacing`` is used when present. The crop
    region is the calibrated region, else the first 2D tissue/colour region that fits the image.

    Args:
        ds: a dataset with at least Rows, Columns and (optionally) SequenceOfUltrasoundRegions.

    Returns:
        ``(crop_region, spacing_xy_mm, spacing_source, note)``; ``spacing_xy_mm`` is ``(dx, dy)`` (column, row) or
        None, ``spacing_source`` is ``"region"``, ``"pixel_spacing"`` or ``"none"``, ``note`` explains a missing
        spacing ("" when calibrated).
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    regions = [_parse_region(item) for item in ds.get("SequenceOfUltrasoundRegions", [])]
    imaging = [r for r in regions if r.spatial_format == 1 and r.data_type in _IMAGING_DATA_TYPES]
    calibrated = [r for r in imaging if r.units_x == _UNITS_CM and r.units_y == _UNITS_CM]
    note = ""
    if calibrated:
        first = calibrated[0]
        fitted = _fit_box(first, rows, columns)
        if fitted is None:
            note = (
                f"ultrasound region box (x0, y0, x1, y1) = {tuple(first.box)} lies outside the "
                f"{rows} x {columns} image (rescaled or cropped pixel data?)"
            )
        elif first.delta_x <= 0 or first.delta_y <= 0:
            note = f"ultrasound region has non-positive PhysicalDelta ({first.delta_x}, {first.delta_y})"
        else:
            return fitted, (first.delta_x * 10.0, first.delta_y * 10.0), "region", ""
    elif regions:
        note = "no 2D tissue/colour-flow ultrasound region with cm units"
    else:
        note = "no SequenceOfUltrasoundRegions"
    crop = next((f for f in (_fit_box(r, rows, columns) for r in imaging) if f is not None), None)
    pixel_spacing = ds.get("PixelSpacing")
    if pixel_spacing is not None and len(pixel_spacing) == 2 and all(float(v) > 0 for v in pixel_spacing):
        # PixelSpacing is (row, column) in DICOM order.
        return crop, (float(pixel_spacing[1]), float(pixel_spacing[0])), "pixel_spacing", note
    return crop, None, "none", note


def _frame_times(ds: Dataset, n_frames: int) -> tuple[list[float] | None, str]:
    """Time stamp (ms) of every frame: FrameTimeVector (cumulative), else FrameTime, else 1000 / CineRate."""
    vector = ds.get("FrameTimeVector")
    if vector is not None:
        values = [float(v) for v in (vector if isinstance(vector, Sequence) else [vector])]
        if len(values) == n_frames:
            return [float(t) for t in np.cumsum(values)], "frame_time_vector"
    frame_time = ds.get("FrameTime")
    if frame_time is not None and float(frame_time) > 0:
        return [i * float(frame_time) for i in range(n_frames)], "frame_time"
    cine_rate = ds.get("CineRate")
    if cine_rate is not None and float(cine_rate) > 0:
        return [i * 1000.0 / float(cine_rate) for i in range(n_frames)], "cine_rate"
    return None, "none"


def _trim_range(ds: Dataset, n_frames: int) -> tuple[int, int] | None:
    start, stop = ds.get("StartTrim"), ds.get("StopTrim")
    if start is None and stop is None:
        return None
    first = max(_int(start, 1), 1) - 1
    last = min(_int(stop, n_frames), n_frames) - 1
    return (first, last) if first <= last else None


def _install_hint(transfer_syntax: str) -> str:
    for uids, hint in _INSTALL_HINTS:
        if transfer_syntax in uids:
            return hint
    return "install a pydicom pixel data plugin for this transfer syntax"


def _available_plugins(transfer_syntax: str) -> tuple[bool, tuple[str, ...], list[str]]:
    """``(is_native, available_plugins, missing_dependencies)`` of pydicom's decoder (tests monkeypatch this)."""
    decoder = get_decoder(transfer_syntax)
    return decoder.is_native, tuple(decoder.available_plugins), list(decoder.missing_dependencies)


def check_us_decoder(path: str | os.PathLike, transfer_syntax: str, decoding_plugin: str = "") -> None:
    """Fail early, with an install hint, when no pydicom plugin can decode ``transfer_syntax``.

    Args:
        path: the file (for the message).
        transfer_syntax: the Transfer Syntax UID of the file.
        decoding_plugin: a specific pydicom plugin name (e.g. ``"pillow"``), or "" for pydicom's choice.

    Raises:
        USDicomError: unknown transfer syntax, or no (or not the requested) plugin available.
    """
    ts = pydicom.uid.UID(transfer_syntax)
    try:
        is_native, plugins, missing = _available_plugins(ts)
    except NotImplementedError:
        raise USDicomError(path, f"transfer syntax {ts} ({ts.name}) is not supported by pydicom") from None
    if is_native:
        return
    if decoding_plugin and decoding_plugin not in plugins:
        raise USDicomError(
            path,
            f"decoding plugin '{decoding_plugin}' is not available for {ts.name} ({ts}); available: "
            f"{list(plugins) or 'none'}; missing: {missing}. Hint: {_install_hint(ts)}",
        )
    if not plugins:
        raise USDicomError(
            path,
            f"cannot decode {ts.name} ({ts}) pixel data: all decoding plugins are missing dependencies "
            f"({'; '.join(missing)}). Hint: {_install_hint(ts)}",
        )


_PIXEL_TAGS = {0x0008: "Float Pixel Data (7FE0,0008)", 0x0009: "Double Float Pixel Data (7FE0,0009)",
               0x0010: "Pixel Data (7FE0,0010)"}
_LONG_LENGTH_VRS = (b"OB", b"OW", b"OD", b"OF", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR")
_UNDEFINED_LENGTH = 0xFFFFFFFF
_ITEM, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)
_MAX_FRAGMENTS = 1 << 24  # items scanned for the end of encapsulated pixel data (a seek each, no read)


@dataclass
class _PixelElement:
    """Where the pixel data of a file is and how long it is (``length`` None: encapsulated, undefined length)."""

    name: str
    offset: int  # file offset of the value
    length: int | None
    file_size: int
    cut: bool = False  # the file ends inside the element header


def _pixel_element(fp: Any, transfer_syntax: pydicom.uid.UID, file_size: int) -> _PixelElement | None:
    """The pixel data element at the file position where ``stop_before_pixels`` stopped, or None if there is none."""
    tag_bytes = fp.read(4)
    if len(tag_bytes) < 4:
        return None
    order = "<" if transfer_syntax.is_little_endian else ">"
    group, element = struct.unpack(f"{order}HH", tag_bytes)
    if group != 0x7FE0 or element not in _PIXEL_TAGS:
        return None
    if transfer_syntax.is_implicit_VR:
        raw = fp.read(4)
    else:
        vr = fp.read(2)
        raw = fp.read(6)[2:] if vr in _LONG_LENGTH_VRS else fp.read(2)
    if len(raw) not in (2, 4):
        return _PixelElement(_PIXEL_TAGS[element], fp.tell(), 0, file_size, cut=True)
    length = struct.unpack(f"{order}{'I' if len(raw) == 4 else 'H'}", raw)[0]
    return _PixelElement(_PIXEL_TAGS[element], fp.tell(), None if length == _UNDEFINED_LENGTH else length, file_size)


def _count_fragments(fp: Any, file_size: int, stop_after: int) -> tuple[int | None, int, str]:
    """Seek over the items of encapsulated pixel data: ``(offset-table entries, fragments, problem or "")``."""
    table: int | None = None
    fragments = 0
    while fragments <= stop_after:
        head = fp.read(8)
        if len(head) < 8:
            return table, fragments, "the file ends before the end of the encapsulated Pixel Data (truncated)"
        group, element, length = struct.unpack("<HHI", head)  # encapsulated syntaxes are all little endian
        if (group, element) == _SEQUENCE_END:
            return table, fragments, ""
        if (group, element) != _ITEM:
            return table, fragments, f"unexpected tag ({group:04X},{element:04X}) inside the encapsulated Pixel Data"
        if fp.tell() + length > file_size:
            return table, fragments, (
                f"an item of the encapsulated Pixel Data declares {length} bytes but the file ends "
                f"{file_size - fp.tell()} bytes later (truncated)"
            )
        if table is None:
            table = length // 4  # the Basic Offset Table: one 32-bit offset per frame, or empty
        else:
            fragments += 1
        fp.seek(length, os.SEEK_CUR)
    return table, fragments, ""


def _count_attribute(ds: Dataset, keyword: str, tag: str, default: int | None = None) -> int:
    """A positive integer attribute (NumberOfFrames, Rows, ...); a ValueError naming it otherwise."""
    value = ds.get(keyword, default)
    if value in (None, "") and default is not None:
        return default  # absent or empty (Type 2 in some IODs): the DICOM default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < 1 or (not isinstance(value, (int, np.integer)) and float(value) != number):
        shown = "empty" if value in (None, "") else str(value)
        raise ValueError(f"{keyword} {tag} is {shown}: it must be a whole number of at least 1")
    return number


def _check_geometry(path: str, ds: Dataset, pixels: _PixelElement, fp: Any, deflated: bool) -> int:
    """Check frames, image size and pixel-data length against each other; returns NumberOfFrames."""
    try:
        n_frames = _count_attribute(ds, "NumberOfFrames", "(0028,0008)", default=1)
        rows = _count_attribute(ds, "Rows", "(0028,0010)")
        columns = _count_attribute(ds, "Columns", "(0028,0011)")
        samples = _count_attribute(ds, "SamplesPerPixel", "(0028,0002)", default=1)
        bits = _count_attribute(ds, "BitsAllocated", "(0028,0100)", default=8)
    except ValueError as e:
        raise USDicomError(path, str(e)) from None
    if samples not in (1, 3):
        raise USDicomError(path, f"SamplesPerPixel (0028,0002) is {samples}: only 1 (grey) or 3 (colour) are images")
    if bits not in (1, 8, 16, 32):
        raise USDicomError(path, f"BitsAllocated (0028,0100) is {bits}: expected 1, 8, 16 or 32")
    limit = Image.MAX_IMAGE_PIXELS
    if limit and rows * columns > limit:
        raise USDicomError(
            path,
            f"Rows x Columns = {rows} x {columns} = {rows * columns} pixels per frame exceeds the decompression-bomb "
            f"limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS); no ultrasound frame is that large",
        )
    if deflated:
        return n_frames  # the pixel data lies inside the deflated stream: the decoder checks it
    if pixels.cut:
        raise USDicomError(path, f"truncated: the file ends inside the header of its {pixels.name} element")
    if pixels.length is None:
        table, fragments, problem = _count_fragments(fp, pixels.file_size, stop_after=_MAX_FRAGMENTS)
        if problem:
            raise USDicomError(path, f"{pixels.name}: {problem}")
        if table and table != n_frames:
            raise USDicomError(
                path,
                f"the Basic Offset Table of {pixels.name} lists {table} frame(s) but NumberOfFrames (0028,0008) is "
                f"{n_frames}",
            )
        if fragments < n_frames:
            raise USDicomError(
                path,
                f"{pixels.name} holds {fragments} fragment(s), fewer than NumberOfFrames (0028,0008) = {n_frames} "
                "(every frame needs at least one): the header claims frames the file does not have",
            )
        return n_frames
    remaining = pixels.file_size - pixels.offset
    if pixels.length > remaining:
        raise USDicomError(
            path,
            f"truncated: {pixels.name} declares {pixels.length} bytes but the file ends {remaining} bytes after its "
            "start (cut off in transfer?)",
        )
    if pixels.name.startswith("Pixel Data"):
        expected = get_expected_length(_geometry_dataset(ds, n_frames, rows, columns, samples, bits), unit="bytes")
        if pixels.length < expected:
            raise USDicomError(
                path,
                f"{pixels.name} holds {pixels.length} bytes but NumberOfFrames (0028,0008) x Rows (0028,0010) x "
                f"Columns (0028,0011) x SamplesPerPixel (0028,0002) x BitsAllocated (0028,0100) / 8 = {n_frames} x "
                f"{rows} x {columns} x {samples} x {bits} / 8 needs {expected}: the header claims more frames or a "
                "larger image than the pixel data holds",
            )
    return n_frames


def _geometry_dataset(ds: Dataset, n_frames: int, rows: int, columns: int, samples: int, bits: int) -> Dataset:
    """A minimal dataset with the checked geometry, for pydicom's expected-length computation."""
    geometry = Dataset()
    geometry.NumberOfFrames = n_frames
    geometry.Rows, geometry.Columns = rows, columns
    geometry.SamplesPerPixel, geometry.BitsAllocated = samples, bits
    geometry.PhotometricInterpretation = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    return geometry


def _regions_outside(ds: Dataset) -> list[tuple[int, list[int]]]:
    """``(index, box)`` of the SequenceOfUltrasoundRegions items whose box does not fit the image."""
    rows, columns = _int(ds.get("Rows"), 0), _int(ds.get("Columns"), 0)
    out = []
    for i, item in enumerate(ds.get("SequenceOfUltrasoundRegions", [])):
        region = _parse_region(item)
        if _fit_box(region, rows, columns) is None:
            out.append((i, region.box))
    return out


def drop_us_regions_outside(ds: Dataset) -> list[int]:
    """Remove (in place) the SequenceOfUltrasoundRegions items whose box lies outside the image.

    Derived objects (key frames) must not carry a calibration that does not fit their pixels; the reader ignores
    such regions too. Boxes that overflow the max side by exactly one pixel are clamped, as the reader does.

    Returns:
        the 0-based indices of the removed items (the sequence is deleted when none is left).
    """
    if "SequenceOfUltrasoundRegions" not in ds:
        return []
    rows, columns = _int(ds.get("Rows"), 0), _int(ds.get("Columns"), 0)
    kept, dropped = [], []
    for i, item in enumerate(ds.SequenceOfUltrasoundRegions):
        fitted = _fit_box(_parse_region(item), rows, columns)
        if fitted is None:
            dropped.append(i)
            continue
        if "RegionLocationMaxX1" in item:
            item.RegionLocationMaxX1 = fitted.x1
        if "RegionLocationMaxY1" in item:
            item.RegionLocationMaxY1 = fitted.y1
        kept.append(item)
    if not kept:
        del ds.SequenceOfUltrasoundRegions
    elif dropped:
        ds.SequenceOfUltrasoundRegions = kept
    return dropped


def read_us_header(
    path: str | os.PathLike, *, require_us: bool = True, decoding_plugin: str = "", warn_uncalibrated: bool = True
) -> USClipHeader:
    """Read and check the header of an ultrasound DICOM file without decoding any pixel data.

    Args:
        path: a DICOM Part 10 file.
        require_us: accept only the ultrasound SOP classes of docs/methods/ultrasound-dicom.md, "Supported files"
            (Ultrasound (Multi-frame) Image Storage and their retired forms). With False any single/multi-frame image
            with pixel data is accepted.
        decoding_plugin: pydicom plugin to check for (see :func:`check_us_decoder`).
        warn_uncalibrated: emit a :class:`USCalibrationWarning` when the spacing is unknown.

    Raises:
        USDicomError: not DICOM, truncated, Enhanced US Volume, not ultrasound (``require_us``), no pixel data,
            missing decoder, or a geometry (NumberOfFrames, Rows, Columns, SamplesPerPixel, BitsAllocated) that
            does not fit the pixel data; the message names the file and the attribute.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise USDicomError(path, "no such file")
    file_size = os.path.getsize(path)
    try:
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
            deflated = bool(ts) and pydicom.uid.UID(ts).is_deflated
            at_end = fp.tell() >= file_size
            pixels = None
            if ts and not deflated:
                pixels = _pixel_element(fp, pydicom.uid.UID(ts), file_size)
            n_frames = 1
            if (pixels is not None or deflated) and "Rows" in ds and "Columns" in ds:
                n_frames = _check_geometry(path, ds, pixels, fp, deflated)
    except USDicomError:
        raise
    except InvalidDicomError as e:
        raise USDicomError(path, f"not a DICOM Part 10 file ({e})") from None
    except Exception as e:  # truncated/corrupt headers raise a variety of errors inside pydicom
        raise USDicomError(path, f"cannot parse the DICOM header: {type(e).__name__}: {e}") from None
    sop_class = str(ds.get("SOPClassUID", ""))
    if not sop_class and at_end:
        raise USDicomError(
            path,
            f"truncated or not a complete DICOM file: the data set ends after {file_size} bytes, before its "
            "SOPClassUID (0008,0016) and Pixel Data",
        )
    if sop_class == ENHANCED_US_VOLUME_UID:
        raise USDicomError(
            path, "Enhanced US Volume Storage (3D/4D with functional groups) is not supported by this 2D/2D+t reader"
        )
    if require_us and sop_class not in US_SOP_CLASS_UIDS:
        name = pydicom.uid.UID(sop_class).name if sop_class else "no SOPClassUID"
        raise USDicomError(
            path,
            f"not an ultrasound image: SOP class {sop_class or '-'} ({name}), Modality {ds.get('Modality', '-')}; "
            "pass require_us=False to read it anyway",
        )
    if not ts:
        raise USDicomError(path, "the file meta information has no TransferSyntaxUID")
    if pixels is None and not deflated and at_end:
        raise USDicomError(
            path,
            f"no pixel data: the file ends after {file_size} bytes without a Pixel Data (7FE0,0010) element "
            "(truncated in transfer, or a data set without an image)",
        )
    if (pixels is None and not deflated) or "Rows" not in ds or "Columns" not in ds:
        raise USDicomError(path, "the dataset has no pixel data (no (7FE0,0010) Pixel Data element or no Rows/Columns)")
    check_us_decoder(path, ts, decoding_plugin)

    region, spacing, source, note = select_us_region(ds)
    for index, box in _regions_outside(ds):
        warnings.warn(
            f"{path}: SequenceOfUltrasoundRegions item {index + 1} has the box (x0, y0, x1, y1) = {tuple(box)} "
            f"outside the {int(ds.Rows)} x {int(ds.Columns)} image; it is ignored",
            USRegionWarning,
            stacklevel=3,
        )
    if source == "none" and warn_uncalibrated:
        warnings.warn(f"{path}: spacing unknown ({note}); working in pixels", USCalibrationWarning, stacklevel=3)
    times, time_source = _frame_times(ds, n_frames)
    return USClipHeader(
        path=path,
        dataset=ds,
        n_frames=n_frames,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip(),
        transfer_syntax=str(ts),
        bits_stored=_int(ds.get("BitsStored"), _int(ds.get("BitsAllocated"), 8)),
        pixel_representation=_int(ds.get("PixelRepresentation"), 0),
        samples_per_pixel=_int(ds.get("SamplesPerPixel"), 1),
        region=region,
        spacing_xy=spacing,
        spacing_source=source,
        calibration_note=note,
        frame_times_ms=times,
        time_source=time_source,
        trim=_trim_range(ds, n_frames),
    )
