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

"""Channel count and 8-bit scale of ultrasound images: B-mode PNGs come as gray, gray + alpha, RGB or RGBA (BUSI
mixes them), sometimes as 16-bit PNGs, and DICOM frames can have 10 to 16 stored bits.

Networks want a fixed number of input channels. :class:`USImageChannels` converts a channel-first image to
1 channel (ITU-R BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``, as PIL's ``convert("L")``; alpha dropped) or
3 channels (gray replicated; RGB kept; alpha dropped).

It also brings every image to the 0-255 scale that the bundles' intensity transforms assume (``ScaleIntensityRanged``
with ``a_max=255``, ImageNet statistics on 0-255), by the image's own bit depth: a 16-bit PNG (PIL mode ``I;16``)
is multiplied by 255 / 65535, a DICOM frame with BitsStored = 12 (reader metadata ``value_range`` [0, 4095]) by
255 / 4095, a bilevel image (mode ``1``) by 255; 8-bit images are unchanged. Without this a 16-bit image saturates
(nearly every pixel clipped to 1.0) and training "succeeds" on white images. Images whose values have no known
scale are refused with the file named: palette images (mode ``P`` / ``PA``: the loader returns palette indices,
not intensities), CMYK, and 32-bit integer or float images (modes ``I`` and ``F``); convert them to 8-bit gray or
RGB first (e.g. ``PIL.Image.open(f).convert("L")``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type

from monai_ext.utils.errors import USInputError

__all__ = [
    "LUMA_WEIGHTS",
    "USImageChannels",
    "USImageChannelsd",
    "USImageChannelsD",
    "USImageChannelsDict",
    "image_mode_scale",
]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# PIL image modes -> the factor that brings their values to 0-255.
_MODE_SCALE = {"1": 255.0, "L": 1.0, "LA": 1.0, "RGB": 1.0, "RGBA": 1.0, "RGBX": 1.0, "RGBa": 1.0, "La": 1.0}
_MODE_SCALE.update({m: 255.0 / 65535.0 for m in ("I;16", "I;16B", "I;16L", "I;16N")})
_REFUSED_MODES = {
    "P": "a palette image (the loader returns palette indices, not intensities)",
    "PA": "a palette image with alpha (the loader returns palette indices, not intensities)",
    "CMYK": "a CMYK image",
    "I": "a 32-bit integer image (no known intensity scale)",
    "F": "a floating-point image (no known intensity scale)",
}


def image_mode_scale(mode: str, source: str = "image") -> float:
    """The factor that brings a PIL image of ``mode`` to the 0-255 scale (see the module docstring).

    Raises:
        USInputError: for a mode without a known intensity scale (palette, CMYK, 32-bit, float, ...), naming
            ``source`` and the fix.
    """
    if mode in _MODE_SCALE:
        return _MODE_SCALE[mode]
    what = _REFUSED_MODES.get(mode, f"PIL mode {mode!r}")
    raise USInputError(
        f"{source}: {what} cannot be used as an ultrasound image; save it as 8-bit gray or RGB (or 16-bit gray), "
        "e.g. PIL.Image.open(path).convert('L')"
    )


def _scale_to_8bit(img: Any, where: str) -> float:
    """The 0-255 factor of a loaded image from its metadata: PIL ``mode`` or the DICOM reader's ``value_range``."""
    meta = getattr(img, "meta", None)
    if not isinstance(meta, Mapping):
        return 1.0
    mode = meta.get("mode")
    if isinstance(mode, str):
        return image_mode_scale(mode, where)
    value_range = meta.get("value_range")
    if value_range is None or isinstance(value_range, str):
        return 1.0
    try:
        bounds = np.asarray(value_range.cpu() if isinstance(value_range, torch.Tensor) else value_range, float).ravel()
    except (TypeError, ValueError):
        return 1.0
    return 255.0 / float(bounds[1]) if bounds.size == 2 and bounds[1] > 255.0 else 1.0


class USImageChannels(Transform):
    """Convert a channel-first (C, *spatial) image with C in {1, 2, 3, 4} to ``channels`` (1 or 3) channels on the
    0-255 scale.

    C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA (MONAI's PILReader with ``ensure_channel_first``). Images whose
    metadata declare more than 8 bits (PIL mode ``I;16``, DICOM ``value_range`` above 255) or a bilevel image are
    rescaled to 0-255 by their bit depth (module docstring); palette, CMYK, 32-bit and float images are refused.
    The output keeps the input type, meta data and (floating) dtype; integer images become float32 when luminance
    is computed or the image is rescaled.

    Args:
        channels: 1 (luminance) or 3 (RGB).

    Raises:
        ValueError: for another number of input channels, or an image mode without a known scale
            (``USInputError``), naming the file when the meta data has it.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, channels: int) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.channels = channels

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """Convert ``img``; see the class docstring."""
        if not isinstance(img, (np.ndarray, torch.Tensor)):
            raise TypeError(f"img must be a numpy array or a torch tensor, got {type(img).__name__}")
        c = int(img.shape[0]) if img.ndim >= 2 else -1
        meta = getattr(img, "meta", None)
        name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
        where = f"image {name}" if name else "image"
        scale = _scale_to_8bit(img, where)
        if c not in (1, 2, 3, 4):
            raise ValueError(
                f"{where}: expected a channel-first image with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) "
                f"channels, got shape {tuple(img.shape)}"
            )
        x = img[:1] if c == 2 else img[:3] if c == 4 else img  # drop alpha
        c = int(x.shape[0])
        if c == self.channels:
            out = x
        elif self.channels == 3:  # gray -> RGB
            out = torch.cat([x] * 3, 0) if isinstance(x, torch.Tensor) else np.concatenate([x] * 3, 0)
        else:  # RGB -> luminance
            if isinstance(x, torch.Tensor):
                xf = x if x.is_floating_point() else x.float()
                w = torch.as_tensor(LUMA_WEIGHTS, dtype=xf.dtype, device=xf.device)
                out = (xf * w.view(3, *([1] * (xf.ndim - 1)))).sum(0, keepdim=True)
            else:
                xf = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)
                w = np.asarray(LUMA_WEIGHTS, dtype=xf.dtype).reshape(3, *([1] * (xf.ndim - 1)))
                out = (xf * w).sum(0, keepdims=True)
        if scale != 1.0:
            if isinstance(out, torch.Tensor):
                out = (out if out.is_floating_point() else out.float()) * scale
            else:
                out = (out if np.issubdtype(out.dtype, np.floating) else out.astype(np.float32)) * np.float32(scale)
        res, *_ = convert_to_dst_type(out, dst=img, dtype=out.dtype)
        return res


class USImageChannelsd(MapTransform):
    """Dictionary version of :class:`USImageChannels`.

    Args:
        keys: keys of the images to convert.
        channels: 1 or 3.
        allow_missing_keys: do not fail on items without a key.
    """

    backend = USImageChannels.backend

    def __init__(self, keys: KeysCollection, channels: int, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = USImageChannels(channels)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


USImageChannelsD = USImageChannelsDict = USImageChannelsd
