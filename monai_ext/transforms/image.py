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

"""Channel count of ultrasound images: B-mode PNGs come as gray, gray + alpha, RGB or RGBA (BUSI mixes them).

Networks want a fixed number of input channels. :class:`USImageChannels` converts a channel-first image to
1 channel (ITU-R BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``, as PIL's ``convert("L")``; alpha dropped) or
3 channels (gray replicated; RGB kept; alpha dropped).
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

__all__ = ["LUMA_WEIGHTS", "USImageChannels", "USImageChannelsd", "USImageChannelsD", "USImageChannelsDict"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


class USImageChannels(Transform):
    """Convert a channel-first (C, *spatial) image with C in {1, 2, 3, 4} to ``channels`` (1 or 3) channels.

    C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA (MONAI's PILReader with ``ensure_channel_first``). The output
    keeps the input type, meta data and (floating) dtype; integer images become float32 when luminance is
    computed.

    Args:
        channels: 1 (luminance) or 3 (RGB).

    Raises:
        ValueError: for another number of input channels, naming the file when the meta data has it.
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
        if c not in (1, 2, 3, 4):
            meta = getattr(img, "meta", None)
            name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
            where = f"image {name}" if name else "image"
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
