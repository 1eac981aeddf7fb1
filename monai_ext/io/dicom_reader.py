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

"""Streaming reader for DICOM ultrasound images and cine clips (docs/methods/ultrasound-dicom.md).

The public pieces are:

- :class:`UltrasoundDicomReader`, a MONAI :class:`~monai.data.ImageReader` for ``LoadImage`` / ``LoadImaged``;
- :func:`iter_us_frames`, a generator yielding one processed frame at a time (memory independent of the clip
  length);
- :func:`compute_us_overlay_mask`, the streaming temporal test for burned-in graphics.

The header pass (SOP class, decoder, geometry and calibration checks, :class:`~monai_ext.io.USDicomError`) is
:func:`monai_ext.io.read_us_header` in :mod:`monai_ext.io.dicom_header`.

Layout convention: channel-first, spatial order ``(x = column, y = row)`` by default (``reverse_indexing=True``,
like MONAI's ``PILReader``), time last: one frame -> ``(C, X, Y)``, several frames -> ``(C, X, Y, T)``.

Metadata (JSON-friendly except MONAI's array keys): StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID,
SOPClassUID, Modality, Rows, Columns, NumberOfFrames, PhotometricInterpretation, UltrasoundColorDataPresent,
TransferSyntaxUID; ``frame_indices`` (0-based) and ``frame_numbers`` (1-based, DICOM ReferencedFrameNumber);
``t_ms``, ``frame_time_ms``, ``time_source``; ``region_box`` (selected region, inclusive, full-frame (x0, y0, x1, y1)),
``crop_box``, ``crop_offset`` (full-frame (column, row) of the first output pixel); ``spacing`` (output spatial order),
``spacing_units`` ("mm"/"pixel"), ``spacing_source`` ("region"/"pixel_spacing"/"none"), ``calibration_note``;
``reverse_indexing``, ``grayscale``, ``value_range``, ``decoding_plugin`` (requested), ``colour_policy``,
``colour_pixels`` (+ ``colour_mask`` uint8 when colour pixels were masked), ``overlay_policy``, ``overlay_pixels``
(+ ``overlay_mask`` uint8 with ``overlay_policy="mask"``); MONAI's ``affine``, ``original_affine``, ``spatial_shape``,
``original_channel_dim`` (0) and ``filename_or_obj``. Absent values are the string ``"none"`` (MONAI's convention).
Patient name/ID are never copied.

Caveats: the static-overlay test also flags pixels that are saturated (or identically JPEG-coded) in every frame, and
on JPEG clips graphics next to moving tissue may vary slightly (raise ``overlay_tolerance``); colour pixels are found
by chroma (``colour_threshold``), so tinted grey palettes with a strong tint would be flagged (use "keep").
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from monai.data import ImageReader
from monai.data.image_reader import _copy_compatible_dict
from monai.utils import MetaKeys
from pydicom.pixels import apply_color_lut, convert_color_space, iter_pixels

from monai_ext.utils.flags import parse_flag

from .dicom_header import USClipHeader, USDicomError, USRegion, read_us_header

__all__ = ["COLOUR_POLICIES", "OVERLAY_POLICIES", "iter_us_frames", "compute_us_overlay_mask", "UltrasoundDicomReader"]

COLOUR_POLICIES = ("mask", "reject", "keep")
OVERLAY_POLICIES = ("blank", "mask", "none")

_WRITE_BLOCK = 4  # frames buffered per write into a (C, X, Y, T) output
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601


# ------------------------------------------------------------------------------------------------ options


_FLAG_OPTIONS = ("grayscale", "crop_to_region", "reverse_indexing", "require_us", "use_trim", "warn_uncalibrated")


@dataclass(frozen=True)
class _Options:
    frames: Any = None
    grayscale: bool = True
    crop_to_region: bool = True
    colour_policy: str = "mask"
    colour_threshold: float = 30.0
    overlay_policy: str = "blank"
    overlay_tolerance: float = 0.0
    reverse_indexing: bool = True
    dtype: Any = np.float32
    decoding_plugin: str = ""
    require_us: bool = True
    use_trim: bool = True
    warn_uncalibrated: bool = True

    def __post_init__(self):
        for name in _FLAG_OPTIONS:  # "false" from a config or CLI must not read as True
            object.__setattr__(self, name, parse_flag(getattr(self, name), name))
        if self.colour_policy not in COLOUR_POLICIES:
            raise ValueError(f"colour_policy must be one of {COLOUR_POLICIES}, got {self.colour_policy!r}.")
        if self.overlay_policy not in OVERLAY_POLICIES:
            raise ValueError(f"overlay_policy must be one of {OVERLAY_POLICIES}, got {self.overlay_policy!r}.")
        if self.colour_threshold < 0 or self.overlay_tolerance < 0:
            raise ValueError("colour_threshold and overlay_tolerance must be non-negative.")
        if not isinstance(self.decoding_plugin, str):
            raise TypeError(f"decoding_plugin must be a str, got {type(self.decoding_plugin).__name__}.")
        frames = self.frames
        is_int = isinstance(frames, (int, np.integer)) and not isinstance(frames, bool)
        if not (_is_all(frames) or is_int or _is_index_seq(frames)):
            raise TypeError(f"frames must be None, 'all', an int or a sequence of ints, got {frames!r}.")
        np.dtype(self.dtype)  # raises TypeError for nonsense


_OPTION_NAMES = tuple(_Options.__dataclass_fields__)


def _is_all(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "all")


def _is_index_seq(value: Any) -> bool:
    return (
        isinstance(value, (Sequence, np.ndarray))
        and not isinstance(value, (str, bytes))
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    )


def _resolve_frames(header: USClipHeader, opts: _Options) -> tuple[list[int], bool]:
    """0-based frame indices to return and whether the output keeps a time axis."""
    n = header.n_frames
    frames = opts.frames
    if _is_all(frames):
        if opts.use_trim and header.trim is not None:
            return list(range(header.trim[0], header.trim[1] + 1)), header.is_multiframe
        return list(range(n)), header.is_multiframe
    single = isinstance(frames, (int, np.integer))
    indices = [int(frames)] if single else [int(i) for i in frames]
    if not indices:
        raise USDicomError(header.path, "frames is an empty sequence")
    out = []
    for i in indices:
        if not -n <= i < n:
            raise USDicomError(header.path, f"frame index {i} out of range for a file with {n} frame(s)")
        out.append(i % n)
    return out, not single


# ------------------------------------------------------------------------------------------------ pixels


class _FrameConverter:
    """Crop, colour-to-grey and colour-pixel handling of one decoded frame -> ``(C, H, W)`` float32."""

    def __init__(self, header: USClipHeader, opts: _Options):
        self.header = header
        self.opts = opts
        pi = header.photometric
        self.is_ybr = pi.startswith("YBR_FULL") or pi.startswith("YBR_PARTIAL")
        # JPEG 2000 decoders apply the inverse RCT/ICT themselves: YBR_RCT / YBR_ICT arrive as RGB.
        self.is_rgb = pi in ("RGB", "YBR_RCT", "YBR_ICT")
        self.is_palette = pi == "PALETTE COLOR"
        self.is_colour = self.is_ybr or self.is_rgb or self.is_palette
        self.invert = pi == "MONOCHROME1"
        if self.is_palette and "RedPaletteColorLookupTableDescriptor" not in header.dataset:
            raise USDicomError(header.path, "PALETTE COLOR image without a palette colour lookup table")
        if not self.is_colour and not pi.startswith("MONOCHROME"):
            raise USDicomError(header.path, f"unsupported PhotometricInterpretation {pi!r}")
        self.scale_8bit = 1.0 if self.is_palette else header.value_max / 255.0
        box = header.region if (opts.crop_to_region and header.region is not None) else None
        self.box = box

    def __call__(self, raw: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.box is not None:
            raw = raw[self.box.y0 : self.box.y1 + 1, self.box.x0 : self.box.x1 + 1]
        chroma = None
        if self.is_ybr:
            ybr = raw.astype(np.float32)
            chroma = np.abs(ybr[..., 1] - 128.0) + np.abs(ybr[..., 2] - 128.0)
            if self.opts.grayscale:
                frame = ybr[None, ..., 0]  # the luma plane: exact grey, no colour round trip
            else:
                frame = np.moveaxis(convert_color_space(raw, "YBR_FULL", "RGB").astype(np.float32), -1, 0)
        elif self.is_rgb or self.is_palette:
            if self.is_palette:
                rgb = apply_color_lut(raw, self.header.dataset)
                # 16-bit LUT entries (the usual case) are brought to the 8-bit scale of RGB/YBR sources.
                rgb = rgb.astype(np.float32) / (257.0 if rgb.dtype.itemsize > 1 else 1.0)
            else:
                rgb = raw.astype(np.float32)
            chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
            frame = (rgb @ _LUMA)[None] if self.opts.grayscale else np.moveaxis(rgb, -1, 0)
        else:
            frame = raw.astype(np.float32)
            if self.invert:
                if self.header.pixel_representation:
                    frame = -frame - 1.0  # two's complement range mirrored
                else:
                    frame = self.header.value_max - frame
            frame = frame[None] if self.opts.grayscale else np.repeat(frame[None], 3, axis=0)
        colour = None
        if chroma is not None and self.opts.colour_policy != "keep":
            colour = chroma > self.opts.colour_threshold * self.scale_8bit
            if colour.any():
                if self.opts.colour_policy == "reject":
                    raise USDicomError(
                        self.header.path,
                        f"frame {index} contains {int(colour.sum())} colour (Doppler/graphics) pixels and "
                        "colour_policy='reject'",
                    )
                frame[:, colour] = 0.0
            else:
                colour = None
        return frame, colour


def _decode(header: USClipHeader, indices: Sequence[int], opts: _Options) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, raw frame)`` decoded one at a time with pydicom's frame-level API."""
    kwargs: dict[str, Any] = {"as_rgb": False}
    if opts.decoding_plugin:
        kwargs["decoding_plugin"] = opts.decoding_plugin
    position = 0
    try:
        for raw in iter_pixels(header.path, indices=list(indices), **kwargs):
            yield indices[position], raw
            position += 1
    except USDicomError:
        raise
    except Exception as e:
        where = indices[position] if position < len(indices) else "?"
        raise USDicomError(header.path, f"failed to decode frame {where}: {type(e).__name__}: {e}") from e


def _layout(frame: np.ndarray, reverse_indexing: bool) -> np.ndarray:
    """``(C, H, W)`` -> ``(C, X, Y)`` when ``reverse_indexing`` (x = column first)."""
    return frame.transpose(0, 2, 1) if reverse_indexing else frame


def _layout_block(block: np.ndarray, reverse_indexing: bool) -> np.ndarray:
    """``(B, C, H, W)`` -> ``(B, C, X, Y)`` view when ``reverse_indexing``."""
    return block.transpose(0, 1, 3, 2) if reverse_indexing else block


def _check_dtype_range(header: USClipHeader, dtype: np.dtype) -> None:
    if np.issubdtype(dtype, np.integer) and np.iinfo(dtype).max < header.value_max:
        raise ValueError(
            f"dtype {dtype} cannot hold the values of {header.path} (up to {header.value_max:g}); use float32."
        )


def _cast(frame: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(frame), info.min, info.max).astype(dtype)
    return frame.astype(dtype, copy=False)


class _StaticTracker:
    """Running per-pixel min/max: a pixel whose range over the clip is 0 has zero temporal standard deviation."""

    def __init__(self):
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None
        self.count = 0

    def update(self, frame: np.ndarray) -> None:
        if self.lo is None:
            self.lo, self.hi = frame.copy(), frame.copy()
        else:
            np.minimum(self.lo, frame, out=self.lo)
            np.maximum(self.hi, frame, out=self.hi)
        self.count += 1

    def mask(self, tolerance: float) -> np.ndarray | None:
        """``(H, W)`` bool: static in every channel and non-zero in some channel; None with fewer than 2 frames."""
        if self.count < 2 or self.lo is None or self.hi is None:
            return None
        static = ((self.hi - self.lo) <= tolerance).all(axis=0)
        return static & (self.hi > 0).any(axis=0)


def _overlay_mask_hw(header: USClipHeader, opts: _Options) -> np.ndarray | None:
    """Streaming pass over every frame of the file: burned-in static pixels as ``(H, W)`` bool."""
    if not header.is_multiframe:
        return None
    convert = _FrameConverter(header, replace(opts, colour_policy="mask" if opts.colour_policy == "mask" else "keep"))
    tracker = _StaticTracker()
    for index, raw in _decode(header, list(range(header.n_frames)), opts):
        tracker.update(convert(raw, index)[0])
    return tracker.mask(opts.overlay_tolerance)


def compute_us_overlay_mask(path: str | os.PathLike, **options: Any) -> np.ndarray | None:
    """Burned-in graphics of a clip: pixels constant over all frames and non-zero (docs/methods/ultrasound-dicom.md,
    "Burned-in overlays").

    The temporal test streams every frame once (running min/max), so memory does not grow with the clip length.
    Cache the result per clip for frame-level training and pass it to :func:`iter_us_frames` as ``overlay_mask``.

    Args:
        path: the DICOM file.
        options: the reader options that shape the frame (``crop_to_region``, ``grayscale``, ``reverse_indexing``,
            ``colour_policy``, ``overlay_tolerance``, ``decoding_plugin``, ``require_us``).

    Returns:
        a bool array in the output spatial layout (``(X, Y)`` by default), or None for a single-frame file.
    """
    opts = _Options(**options)
    header = read_us_header(
        path, require_us=opts.require_us, decoding_plugin=opts.decoding_plugin, warn_uncalibrated=False
    )
    mask = _overlay_mask_hw(header, opts)
    return None if mask is None else (mask.T.copy() if opts.reverse_indexing else mask)


# ------------------------------------------------------------------------------------------------ metadata


def _affine(header: USClipHeader, opts: _Options, box: USRegion | None) -> np.ndarray:
    """``diag(dx, dy, 1, 1)`` in the output spatial order, origin at the crop offset (mm, or pixels if unknown)."""
    dx, dy = header.spacing_xy if header.spacing_xy is not None else (1.0, 1.0)
    x0, y0 = (box.x0, box.y0) if box is not None else (0, 0)
    affine = np.eye(4, dtype=np.float64)
    if opts.reverse_indexing:
        affine[0, 0], affine[1, 1], affine[0, 3], affine[1, 3] = dx, dy, x0 * dx, y0 * dy
    else:
        affine[0, 0], affine[1, 1], affine[0, 3], affine[1, 3] = dy, dx, y0 * dy, x0 * dx
    return affine


def _clip_meta(header: USClipHeader, opts: _Options, indices: list[int], has_time: bool) -> dict:
    """JSON-friendly metadata shared by every frame (plus MONAI's standard keys)."""
    ds = header.dataset
    box = header.region if opts.crop_to_region else None
    height = box.y1 - box.y0 + 1 if box is not None else header.rows
    width = box.x1 - box.x0 + 1 if box is not None else header.columns
    spatial = [width, height] if opts.reverse_indexing else [height, width]
    if has_time:
        spatial = spatial + [len(indices)]
    spacing = header.spacing_xy if header.spacing_xy is not None else (1.0, 1.0)
    affine = _affine(header, opts, box)
    times = header.frame_times_ms
    meta = {
        "StudyInstanceUID": str(ds.get("StudyInstanceUID", "")),
        "SeriesInstanceUID": str(ds.get("SeriesInstanceUID", "")),
        "SOPInstanceUID": str(ds.get("SOPInstanceUID", "")),
        "SOPClassUID": str(ds.get("SOPClassUID", "")),
        "Modality": str(ds.get("Modality", "")),
        "Rows": header.rows,
        "Columns": header.columns,
        "NumberOfFrames": header.n_frames,
        "PhotometricInterpretation": header.photometric,
        "UltrasoundColorDataPresent": 1 if str(ds.get("UltrasoundColorDataPresent", "0")).strip() == "1" else 0,
        "TransferSyntaxUID": header.transfer_syntax,
        "frame_indices": list(indices),
        "frame_numbers": [i + 1 for i in indices],  # DICOM ReferencedFrameNumber is 1-based
        "t_ms": [times[i] for i in indices] if times is not None else "none",
        "frame_time_ms": (times[1] - times[0]) if times is not None and len(times) > 1 else "none",
        "time_source": header.time_source,
        "region_box": header.region.box if header.region is not None else "none",
        "crop_box": box.box if box is not None else "none",
        "crop_offset": [box.x0, box.y0] if box is not None else [0, 0],  # full-frame (column, row)
        "spacing": [spacing[0], spacing[1]] if opts.reverse_indexing else [spacing[1], spacing[0]],
        "spacing_units": "mm" if header.spacing_xy is not None else "pixel",
        "spacing_source": header.spacing_source,
        "calibration_note": header.calibration_note,
        "reverse_indexing": opts.reverse_indexing,
        "grayscale": opts.grayscale,
        "value_range": [0.0, header.value_max],
        "decoding_plugin": opts.decoding_plugin,
        "colour_policy": opts.colour_policy,
        "overlay_policy": opts.overlay_policy,
        MetaKeys.AFFINE: affine,
        MetaKeys.ORIGINAL_AFFINE: affine.copy(),
        MetaKeys.SPATIAL_SHAPE: np.asarray(spatial),
        MetaKeys.ORIGINAL_CHANNEL_DIM: 0,
        "filename_or_obj": header.path,
    }
    return meta


# ------------------------------------------------------------------------------------------------ streaming API


def iter_us_frames(
    path: str | os.PathLike,
    *,
    overlay_mask: np.ndarray | None = None,
    **options: Any,
) -> Iterator[tuple[int, np.ndarray, dict]]:
    """Yield ``(frame_index, frame, meta)`` one frame at a time; peak memory does not depend on the clip length.

    Frames are decoded with ``pydicom.pixels.iter_pixels(path, indices=...)`` and processed like
    :class:`UltrasoundDicomReader` does (region crop, grey conversion, colour-pixel policy, overlay policy), each as
    a channel-first ``(C, X, Y)`` array (``(C, H, W)`` with ``reverse_indexing=False``).

    Args:
        path: the DICOM file.
        overlay_mask: a cached :func:`compute_us_overlay_mask` result; without it and with
            ``overlay_policy != "none"``, a first streaming pass over the clip computes it.
        options: the keyword options of :class:`UltrasoundDicomReader` (``frames``, ``grayscale``,
            ``crop_to_region``, ``colour_policy``, ``colour_threshold``, ``overlay_policy``, ``overlay_tolerance``,
            ``reverse_indexing``, ``dtype``, ``decoding_plugin``, ``require_us``, ``use_trim``, ``warn_uncalibrated``).

    Yields:
        the 0-based frame index, the frame array, and a metadata dict (clip metadata plus ``frame_index``,
        ``frame_number`` (1-based), ``t_ms`` of this frame, and ``colour_mask`` when colour pixels were masked).
    """
    bad = set(options) - set(_OPTION_NAMES)
    if bad:
        raise TypeError(f"iter_us_frames got unexpected options {sorted(bad)}; valid: {list(_OPTION_NAMES)}.")
    opts = _Options(**options)
    header = read_us_header(
        path, require_us=opts.require_us, decoding_plugin=opts.decoding_plugin, warn_uncalibrated=opts.warn_uncalibrated
    )
    yield from _iter_header(header, opts, overlay_mask)


def _iter_header(header: USClipHeader, opts: _Options, overlay_mask: np.ndarray | None):
    indices, _ = _resolve_frames(header, opts)
    convert = _FrameConverter(header, opts)
    dtype = np.dtype(opts.dtype)
    _check_dtype_range(header, dtype)
    mask_hw = _prepare_overlay(header, opts, overlay_mask)
    clip_meta = _clip_meta(header, opts, indices, has_time=False)
    clip_meta["overlay_pixels"] = int(mask_hw.sum()) if mask_hw is not None else 0
    if opts.overlay_policy == "mask" and mask_hw is not None:
        clip_meta["overlay_mask"] = _layout(mask_hw[None], opts.reverse_indexing)[0].astype(np.uint8)
    times = header.frame_times_ms
    for index, raw in _decode(header, indices, opts):
        frame, colour = convert(raw, index)
        if mask_hw is not None and opts.overlay_policy == "blank":
            frame[:, mask_hw] = 0.0
        meta = dict(clip_meta)
        meta.update(frame_index=index, frame_number=index + 1, t_ms=times[index] if times is not None else "none")
        meta["colour_pixels"] = int(colour.sum()) if colour is not None else 0
        if colour is not None:
            meta["colour_mask"] = _layout(colour[None], opts.reverse_indexing)[0].astype(np.uint8)
        yield index, _cast(_layout(frame, opts.reverse_indexing), dtype), meta


def _prepare_overlay(header: USClipHeader, opts: _Options, overlay_mask: np.ndarray | None) -> np.ndarray | None:
    """Overlay mask as ``(H, W)`` bool (internal layout), from a cached mask or a streaming pass."""
    if opts.overlay_policy == "none" or not header.is_multiframe:
        return None
    if overlay_mask is None:
        return _overlay_mask_hw(header, opts)
    mask = np.asarray(overlay_mask, dtype=bool)
    mask = mask.T if opts.reverse_indexing else mask
    box = header.region if opts.crop_to_region else None
    expected = (box.y1 - box.y0 + 1, box.x1 - box.x0 + 1) if box is not None else (header.rows, header.columns)
    if mask.shape != expected:
        raise ValueError(f"overlay_mask has shape {overlay_mask.shape}, expected {expected[::-1]} for {header.path}.")
    return mask


# ------------------------------------------------------------------------------------------------ MONAI reader


class UltrasoundDicomReader(ImageReader):
    """MONAI ``ImageReader`` for DICOM ultrasound images and cine clips, decoding frame by frame.

    Use as ``LoadImage(reader=UltrasoundDicomReader())`` or ``LoadImaged(keys="image",
    reader=UltrasoundDicomReader(frames=0))``; in bundle JSON ``"reader": "$monai_ext.io.UltrasoundDicomReader()"``.

    Output: channel-first, ``(C, X, Y)`` for one frame and ``(C, X, Y, T)`` for several (``(C, H, W[, T])`` with
    ``reverse_indexing=False``); ``C = 1`` with ``grayscale=True`` else 3 (grey sources are replicated). With
    ``frames=None`` a multi-frame file keeps the time axis (even when trimmed to one frame) and a single-frame file
    does not; an int selects one frame (no time axis), a sequence keeps the time axis. Frames are decoded one at a
    time into a preallocated output, so memory is the output plus about one frame.

    Calibration follows docs/methods/ultrasound-dicom.md, "Region calibration": spacing ``(PhysicalDeltaX * 10,
    PhysicalDeltaY * 10)`` mm from the first valid 2D cm region, else ``PixelSpacing``, else unknown
    (``spacing_source="none"``, pixels, with a :class:`USCalibrationWarning`). The affine is ``diag(dx, dy, 1, 1)`` with
    the origin at the crop offset.

    Args:
        frames: None or "all" (every frame, honouring StartTrim/StopTrim when ``use_trim``), an int, or a sequence of
            0-based indices (negative indices count from the end).
        grayscale: convert to one grey channel (YBR: the Y plane; RGB/YBR_RCT/YBR_ICT/palette: BT.601 luma;
            MONOCHROME1: inverted). False returns 3 RGB channels.
        crop_to_region: crop to the selected ultrasound region box (no crop when no region fits the image).
        colour_policy: colour (Doppler or graphics) pixels, detected by chroma above ``colour_threshold``:
            ``"mask"`` sets them to 0 and returns ``colour_mask`` in the metadata when any were found, ``"reject"``
            raises :class:`USDicomError`, ``"keep"`` leaves them (luma-averaged when grey).
        colour_threshold: chroma threshold on the 8-bit scale (``|Cb-128|+|Cr-128|`` for YBR, ``max-min`` of RGB).
        overlay_policy: burned-in static graphics inside the crop (clips only; constant over all frames of the file
            within ``overlay_tolerance`` and non-zero): ``"blank"`` sets them to 0, ``"mask"`` keeps them and returns
            ``overlay_mask`` (uint8, spatial layout) in the metadata, ``"none"`` skips the test.
        overlay_tolerance: largest temporal range (max - min) still counted as static.
        reverse_indexing: spatial order (x = column, y = row) like MONAI's ``PILReader``; False gives (row, column).
        dtype: output dtype (default float32, what ``LoadImage`` produces anyway; integer dtypes round).
        decoding_plugin: pydicom decoding plugin (e.g. ``"pillow"``, ``"pylibjpeg"``); "" lets pydicom choose.
        require_us: accept only ultrasound SOP classes.
        use_trim: with ``frames=None``, return only the frames within StartTrim/StopTrim when present.
        warn_uncalibrated: warn when the spacing is unknown.
    """

    def __init__(
        self,
        frames: None | str | int | Sequence[int] = None,
        grayscale: bool = True,
        crop_to_region: bool = True,
        colour_policy: str = "mask",
        colour_threshold: float = 30.0,
        overlay_policy: str = "blank",
        overlay_tolerance: float = 0.0,
        reverse_indexing: bool = True,
        dtype: Any = np.float32,
        decoding_plugin: str = "",
        require_us: bool = True,
        use_trim: bool = True,
        warn_uncalibrated: bool = True,
    ):
        super().__init__()
        self.options = _Options(
            frames=frames,
            grayscale=grayscale,
            crop_to_region=crop_to_region,
            colour_policy=colour_policy,
            colour_threshold=colour_threshold,
            overlay_policy=overlay_policy,
            overlay_tolerance=overlay_tolerance,
            reverse_indexing=reverse_indexing,
            dtype=dtype,
            decoding_plugin=decoding_plugin,
            require_us=require_us,
            use_trim=use_trim,
            warn_uncalibrated=warn_uncalibrated,
        )

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        """True for ``.dcm`` / ``.dicom`` files and for extension-less files with the ``DICM`` preamble."""
        names = [filename] if isinstance(filename, (str, os.PathLike)) else list(filename)
        return bool(names) and all(self._looks_dicom(n) for n in names)

    @staticmethod
    def _looks_dicom(name: str | os.PathLike) -> bool:
        path = Path(name)
        if path.suffix.lower() in (".dcm", ".dicom"):
            return True
        if path.suffix or not path.is_file():
            return False
        with open(path, "rb") as fp:
            fp.seek(128)
            return fp.read(4) == b"DICM"

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs) -> USClipHeader | list:
        """Parse and check the header(s) only; pixels are decoded in :meth:`get_data`.

        Args:
            data: one file or a sequence of files (stacked as channels by :meth:`get_data`).
            kwargs: per-call overrides of the constructor options (e.g. ``frames=3`` from a frame-aware loader).
        """
        bad = set(kwargs) - set(_OPTION_NAMES)
        if bad:
            raise TypeError(f"{type(self).__name__}.read got unexpected options {sorted(bad)}.")
        opts = replace(self.options, **kwargs) if kwargs else self.options
        names = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        headers = []
        for name in names:
            header = read_us_header(
                name,
                require_us=opts.require_us,
                decoding_plugin=opts.decoding_plugin,
                warn_uncalibrated=opts.warn_uncalibrated,
            )
            header.options = dict(kwargs)
            headers.append(header)
        return headers if len(headers) > 1 else headers[0]

    def get_data(self, img: USClipHeader | Sequence[USClipHeader]) -> tuple[np.ndarray, dict]:
        """Decode the frames of one or several headers from :meth:`read` into a channel-first array and metadata."""
        headers = [img] if isinstance(img, USClipHeader) else list(img)
        arrays: list[np.ndarray] = []
        compatible: dict = {}
        for header in headers:
            opts = replace(self.options, **header.options) if header.options else self.options
            array, meta = self._read_one(header, opts)
            arrays.append(array)
            _copy_compatible_dict(meta, compatible)
        if len(arrays) == 1:
            return arrays[0], compatible
        return np.concatenate(arrays, axis=0), compatible

    def _read_one(self, header: USClipHeader, opts: _Options) -> tuple[np.ndarray, dict]:
        indices, has_time = _resolve_frames(header, opts)
        convert = _FrameConverter(header, opts)
        meta = _clip_meta(header, opts, indices, has_time)
        channels = 1 if opts.grayscale else 3
        spatial = [int(s) for s in meta[MetaKeys.SPATIAL_SHAPE][:2]]
        dtype = np.dtype(opts.dtype)
        _check_dtype_range(header, dtype)
        out = np.empty([channels, *spatial, len(indices)], dtype=dtype)
        colour_masks: np.ndarray | None = None
        # Reading every frame of a clip: the overlay statistics come from the same pass (no second decode).
        all_frames = header.is_multiframe and sorted(indices) == list(range(header.n_frames))
        tracker = _StaticTracker() if opts.overlay_policy != "none" and all_frames else None
        mask_hw = None
        if opts.overlay_policy != "none" and header.is_multiframe and not all_frames:
            mask_hw = _overlay_mask_hw(header, opts)
        colour_total = 0
        # Frames go through a small buffer so that the strided writes into the time-last output touch several
        # neighbouring time points at once (about 4x faster than one frame at a time); memory stays O(frame).
        block = np.empty([_WRITE_BLOCK, channels, *(spatial[::-1] if opts.reverse_indexing else spatial)], dtype)
        filled, start = 0, 0
        for position, (index, raw) in enumerate(_decode(header, indices, opts)):
            frame, colour = convert(raw, index)
            if tracker is not None:
                tracker.update(frame)
            if colour is not None:
                colour_total += int(colour.sum())
                if colour_masks is None:
                    colour_masks = np.zeros([*spatial, len(indices)], dtype=np.uint8)
                colour_masks[..., position] = _layout(colour[None], opts.reverse_indexing)[0]
            block[filled] = _cast(frame, dtype)
            filled += 1
            if filled == _WRITE_BLOCK or position == len(indices) - 1:
                out[..., start : start + filled] = np.moveaxis(
                    _layout_block(block[:filled], opts.reverse_indexing), 0, -1
                )
                start, filled = start + filled, 0
        if tracker is not None:
            mask_hw = tracker.mask(opts.overlay_tolerance)
        mask_xy = None if mask_hw is None else _layout(mask_hw[None], opts.reverse_indexing)[0]
        if mask_xy is not None and opts.overlay_policy == "blank":
            out[:, mask_xy] = 0
        meta["overlay_pixels"] = int(mask_xy.sum()) if mask_xy is not None else 0
        if opts.overlay_policy == "mask" and mask_xy is not None:
            meta["overlay_mask"] = mask_xy.astype(np.uint8)
        meta["colour_pixels"] = colour_total
        if colour_masks is not None:
            meta["colour_mask"] = colour_masks if has_time else colour_masks[..., 0]
        if not has_time:
            out = out[..., 0]
        return out, meta
