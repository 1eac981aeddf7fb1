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

"""Dictionary transforms that load DICOM ultrasound clips (and ordinary images) frame by frame, and crop the region.

Moved from :mod:`monai_ext.inference.dicom_frames` (the old names stay importable from :mod:`monai_ext.inference`).
It holds:

- :class:`USLoadImageFramed` (aliases ``USLoadImageFrameD``, ``USLoadImageFrameDict``) loads the one frame named by an
  item's ``"frame"`` key (items come from :func:`monai_ext.data.list_inference_inputs`), so a clip is streamed one
  frame per dataset item and never decoded whole; other images go through MONAI's ``LoadImage``. Its name contains
  ``LoadImage`` on purpose: the MONAI Deploy bundle operator drops exactly such transforms when it feeds images itself
  (docs/methods/ultrasound-dicom.md, "Inference on clips").
- :class:`USRegionCropd` (aliases ``USRegionCropD``, ``USRegionCropDict``) crops the frame to its ultrasound region
  (``region_box`` in the reader metadata) with MONAI's invertible ``Crop``, so ``Invertd`` pastes predictions back
  into the full source frame.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Crop, InvertibleTransform, LoadImage, MapTransform

from monai_ext.io import UltrasoundDicomReader, USDicomError, compute_us_overlay_mask, iter_us_frames
from monai_ext.utils.errors import USInputError
from monai_ext.utils.meta import meta_scalar

__all__ = [
    "USLoadImageFrameD",
    "USLoadImageFrameDict",
    "USLoadImageFramed",
    "USRegionCropD",
    "USRegionCropDict",
    "USRegionCropd",
]

# Options of iter_us_frames that shape the overlay test (and so the cached overlay mask).
_OVERLAY_OPTIONS = (
    "crop_to_region",
    "grayscale",
    "reverse_indexing",
    "colour_policy",
    "overlay_tolerance",
    "decoding_plugin",
    "require_us",
)


class USLoadImageFramed(MapTransform):
    """Load one frame of a DICOM ultrasound file, or an ordinary image, per datalist item.

    DICOM files (``.dcm`` / ``.dicom`` / the ``DICM`` preamble) are read with :func:`monai_ext.io.iter_us_frames`
    for the single frame ``item[frame_key]`` (0-based; ``None`` or absent means frame 0 of a single-frame file and the
    whole file as ``(C, X, Y, T)`` for a clip, through :class:`~monai_ext.io.UltrasoundDicomReader`). The result is
    a channel-first ``(C, X, Y)`` ``MetaTensor`` with the reader's metadata (UIDs, ``frame_index``,
    ``region_box``, ``crop_offset``, spacing, ...). NIfTI files go through ``LoadImage(reader="NibabelReader")``,
    other files through ``LoadImage(reader=reader, image_only=True, ensure_channel_first=True)``; a file that
    cannot be read raises a :class:`~monai_ext.utils.USInputError` naming it.

    Burned-in overlays of a clip (``overlay_policy="blank"``, the reader's default) are found by a streaming pass
    over every frame; the mask is computed once per clip and cached (``cache_size`` clips, keyed by path, size and
    modification time), so a clip costs one extra decode pass, not one per frame.

    Args:
        keys: keys holding the file path (normally ``"image"``).
        frame_key: item key with the 0-based frame index.
        reader: MONAI reader for non-DICOM files (default ``"PILReader"``, as in the PNG bundles).
        dicom_options: options of :class:`~monai_ext.io.UltrasoundDicomReader` / :func:`~monai_ext.io.iter_us_frames`
            (``crop_to_region``, ``colour_policy``, ``overlay_policy``, ``decoding_plugin``, ...). Default
            ``crop_to_region=False``: the full frame is loaded and :class:`USRegionCropd` crops it invertibly.
        cache_size: number of clips whose overlay masks are kept.
        allow_missing_keys: don't raise for missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        frame_key: str = "frame",
        reader: Any = "PILReader",
        dicom_options: Mapping[str, Any] | None = None,
        cache_size: int = 4,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if not isinstance(frame_key, str):
            raise TypeError(f"frame_key must be a str, got {type(frame_key).__name__}.")
        if int(cache_size) < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}.")
        options = {"crop_to_region": False, "warn_uncalibrated": False}
        options.update(dict(dicom_options or {}))
        if "frames" in options:
            raise ValueError("dicom_options must not set 'frames': the frame comes from each item's frame_key.")
        self.dicom_options = options
        self.frame_key = frame_key
        self.cache_size = int(cache_size)
        self._dicom = UltrasoundDicomReader(**options)  # validates the options early
        self._loader = LoadImage(reader=reader, image_only=True, ensure_channel_first=True)
        # NIfTI inputs are listed too, and a PIL reader cannot read them
        self._nifti_loader = LoadImage(reader="NibabelReader", image_only=True, ensure_channel_first=True)
        self._overlays: OrderedDict[tuple, np.ndarray | None] = OrderedDict()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        frame = meta_scalar(d.get(self.frame_key))
        for key in self.key_iterator(d):
            path = d[key]
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"{type(self).__name__}: item[{key!r}] must be a file path, got {type(path).__name__}.")
            if self._dicom.verify_suffix(path):
                d[key] = self.load_dicom(path, frame)
                continue
            loader = self._nifti_loader if str(path).lower().endswith((".nii", ".nii.gz")) else self._loader
            try:
                d[key] = loader(path)
            except Exception as e:  # MONAI wraps reader errors in long messages: name the file first
                raise USInputError(f"{path}: cannot read the image ({type(e).__name__}: {e})") from e
        return d

    def load_dicom(self, path: str | os.PathLike, frame: int | None) -> MetaTensor:
        """One frame ``(C, X, Y)`` (or, with ``frame=None`` on a clip, every frame ``(C, X, Y, T)``)."""
        path = str(path)
        if frame is None:
            array, meta = self._dicom.get_data(self._dicom.read(path))
            if array.ndim == 3:  # a single-frame file: add the per-frame keys of the streamed path
                meta.update(frame_index=meta["frame_indices"][0], frame_number=meta["frame_numbers"][0])
        else:
            if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
                raise TypeError(f"{path}: the item's {self.frame_key!r} must be an int frame index, got {frame!r}.")
            overlay = self._overlay_mask(path)
            frames = iter_us_frames(path, overlay_mask=overlay, frames=int(frame), **self.dicom_options)
            try:
                _, array, meta = next(frames)
            except StopIteration:  # pragma: no cover - iter_us_frames yields exactly one frame for an int
                raise USDicomError(path, f"frame {frame} could not be read") from None
            finally:
                frames.close()
        meta["filename_or_obj"] = path
        return MetaTensor.ensure_torch_and_prune_meta(array, meta)

    def _overlay_mask(self, path: str) -> np.ndarray | None:
        if self.dicom_options.get("overlay_policy", "blank") == "none":
            return None
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key in self._overlays:
            self._overlays.move_to_end(key)
            return self._overlays[key]
        options = {k: v for k, v in self.dicom_options.items() if k in _OVERLAY_OPTIONS}
        mask = compute_us_overlay_mask(path, **options)  # None for a single-frame file
        self._overlays[key] = mask
        while len(self._overlays) > self.cache_size:
            self._overlays.popitem(last=False)
        return mask


class USRegionCropd(MapTransform, InvertibleTransform):
    """Crop images to their ultrasound region (reader metadata), invertibly.

    The box is the image's ``meta[box_key]`` (inclusive full-frame ``(x0, y0, x1, y1)``, as written by
    :class:`~monai_ext.io.UltrasoundDicomReader`) shifted by ``meta["crop_offset"]`` (non-zero when the reader
    already cropped, which makes this a no-op). Images without a usable box (PNG inputs, DICOM files whose region
    does not fit the image) pass through unchanged (an identity crop is recorded so inversion stays uniform). The
    spatial order follows ``meta["reverse_indexing"]`` (default True: ``(X, Y)``). Cropping uses MONAI's ``Crop``,
    so ``Invertd`` pads predictions back to the full frame.

    Args:
        keys: image keys.
        box_key: metadata key of the region box.
        allow_missing_keys: don't raise for missing keys.
    """

    def __init__(self, keys: KeysCollection, box_key: str = "region_box", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.box_key = box_key
        self.cropper = Crop()

    def _slices(self, img: torch.Tensor) -> tuple[slice, ...]:
        spatial = img.shape[1:]
        meta = img.meta if isinstance(img, MetaTensor) else {}
        box = meta_scalar(meta.get(self.box_key, "none"))
        if isinstance(box, (list, tuple)) and len(box) == 4:
            box = [int(meta_scalar(v)) for v in box]
            offset = meta.get("crop_offset", [0, 0])
            ox, oy = (int(meta_scalar(v)) for v in (offset if isinstance(offset, (list, tuple)) else [0, 0]))
            x0, y0, x1, y1 = box[0] - ox, box[1] - oy, box[2] - ox, box[3] - oy
            reverse = bool(meta_scalar(meta.get("reverse_indexing", True)))
            sx, sy = (slice(x0, x1 + 1), slice(y0, y1 + 1))
            slices = (sx, sy) if reverse else (sy, sx)
            if all(0 <= s.start < s.stop <= n for s, n in zip(slices, spatial[:2])):
                return slices
        return tuple(slice(0, n) for n in spatial)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.cropper(d[key], self._slices(d[key]))
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.cropper.inverse(d[key])
        return d


USLoadImageFrameD = USLoadImageFrameDict = USLoadImageFramed
USRegionCropD = USRegionCropDict = USRegionCropd
