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

"""SegFix boundary and direction targets from an integer label map (SABR-Net stage 2b, model C).

Provenance: SegFix (Yuan et al., ECCV 2020, openseg.pytorch), whose target code the SABR-Net release imports but does
not ship; re-implemented as described in the SABR bundle documentation (``bundles/sabr_us_segmentation/docs/README.md``,
"Boundary refinement"). For every pixel p of label c:

- distance ``d(p)``: Euclidean distance (pixels) to the nearest pixel of another label, the distance transform of
  the mask of c (every pixel belongs to a label, so the band lies on both sides of every boundary; the image border
  is not a boundary; a label covering the whole image has ``d = inf``);
- boundary target ``b = 1`` where ``d <= boundary_width`` (5 px), else 0;
- direction target: the angle ``theta = atan2(g_y, g_x)`` of the gradient of ``d`` of p's own label, smoothed with a
  derivative-of-Gaussian filter (SegFix uses an aperture-11 Sobel; ``sigma = 2`` has a similar support), quantised
  to ``k = round((theta + pi) / (pi / 4)) mod 8``. ``d`` grows into the segment, so direction k points toward the
  interior of p's own segment and matches the offsets (dy, dx) of the refinement:
  0: (0, -1), 1: (-1, -1), 2: (-1, 0), 3: (-1, 1), 4: (0, 1), 5: (1, 1), 6: (1, 0), 7: (1, -1).
  Pixels where the smoothed gradient vanishes (``|g| <= min_gradient``, e.g. the centre of a disc or a label
  covering the image) get ``ignore_index`` (default -1, the SegFix convention; an int64 map).

Coordinates are array coordinates: y = the first spatial axis, x = the second (rows down). The same convention must be
used by the refinement's offsets; it does not matter whether the arrays are MONAI ``PILReader`` (X, Y) arrays, as
long as targets and offsets agree.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy
from scipy import ndimage

__all__ = [
    "SEGFIX_DIRECTION_IGNORE",
    "SEGFIX_OFFSETS",
    "USSegFixTargets",
    "USSegFixTargetsD",
    "USSegFixTargetsDict",
    "USSegFixTargetsd",
]

SEGFIX_DIRECTION_IGNORE = -1
"""Default direction target of pixels without a direction (zero smoothed gradient)."""

SEGFIX_OFFSETS: tuple[tuple[int, int], ...] = ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1))
"""Unit offset (dy, dx) of direction k = 0..7: the angle of atan2(dy, dx) is -180 + 45 k degrees."""


def _source(img: Any) -> str:
    meta = getattr(img, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    return str(name) if name else "<array>"


class USSegFixTargets(Transform):
    """Boundary, direction and distance targets of a 2D integer label map.

    ``__call__(label)`` returns ``(boundary, direction, distance)``, each (1, H, W) of the input's type: boundary
    int64 {0, 1}, direction int64 0..7 or ``ignore_index``, distance float32 (inf for a label covering the image).
    Directions are given for every pixel with a nonzero gradient; the SegFix loss uses them on boundary pixels only.

    Args:
        boundary_width: pixels within this distance of another label are boundary pixels (SegFix: 5).
        sigma: standard deviation (pixels) of the derivative-of-Gaussian filter of the distance map.
        ignore_index: direction target of pixels without a direction.
        min_gradient: gradient magnitudes at or below it count as zero.

    Raises:
        ValueError: a label map that is not (1, H, W) / (H, W) or not integer valued (naming the file).
    """

    backend = [TransformBackends.NUMPY, TransformBackends.TORCH]

    def __init__(
        self, boundary_width: float = 5.0, sigma: float = 2.0, ignore_index: int = -1, min_gradient: float = 1e-3
    ) -> None:
        if boundary_width < 0 or sigma <= 0 or min_gradient < 0:
            raise ValueError(
                f"USSegFixTargets: need boundary_width >= 0, sigma > 0 and min_gradient >= 0, got {boundary_width}, "
                f"{sigma}, {min_gradient}."
            )
        if 0 <= int(ignore_index) <= 7:
            raise ValueError(f"USSegFixTargets: ignore_index must not be a direction 0..7, got {ignore_index}.")
        self.boundary_width = float(boundary_width)
        self.sigma = float(sigma)
        self.ignore_index = int(ignore_index)
        self.min_gradient = float(min_gradient)

    def targets(self, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Numpy (H, W) integer label map -> (boundary, direction, distance), each (H, W)."""
        distance = np.full(label.shape, np.inf)
        grad_y, grad_x = np.zeros(label.shape), np.zeros(label.shape)
        for value in np.unique(label):
            region = label == value
            if region.all():
                continue  # no other label: no boundary, no direction
            dist = ndimage.distance_transform_edt(region)
            # the gradient of this label's own distance map (0 outside it) points into its interior, also right at
            # the boundary, where the combined map of both sides would be a symmetric V
            gy = ndimage.gaussian_filter(dist, self.sigma, order=(1, 0))
            gx = ndimage.gaussian_filter(dist, self.sigma, order=(0, 1))
            distance[region], grad_y[region], grad_x[region] = dist[region], gy[region], gx[region]
        boundary = (distance <= self.boundary_width).astype(np.int64)
        theta = np.arctan2(grad_y, grad_x)
        direction = np.mod(np.rint((theta + math.pi) / (math.pi / 4)), 8).astype(np.int64)
        direction[np.hypot(grad_y, grad_x) <= self.min_gradient] = self.ignore_index
        return boundary, direction, distance.astype(np.float32)

    def __call__(self, label: NdarrayOrTensor) -> tuple[NdarrayOrTensor, NdarrayOrTensor, NdarrayOrTensor]:
        """Targets of ``label``, (1, H, W) or (H, W); see the class docstring."""
        if not isinstance(label, (np.ndarray, torch.Tensor)):
            raise TypeError(f"USSegFixTargets: label must be a numpy array or a torch tensor, got {type(label)}.")
        arr = convert_to_numpy(label)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise ValueError(
                f"USSegFixTargets: label map {_source(label)} must be (1, H, W) or (H, W) integer labels, got shape "
                f"{tuple(label.shape)} (one-hot maps: take the argmax first)."
            )
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
                raise ValueError(f"USSegFixTargets: label map {_source(label)} has non-integer values.")
            arr = arr.astype(np.int64)
        outputs = []
        for target in self.targets(arr):
            out, *_ = convert_to_dst_type(target[None], dst=label, dtype=target.dtype)
            outputs.append(out)
        return outputs[0], outputs[1], outputs[2]


class USSegFixTargetsd(MapTransform):
    """Dictionary version of :class:`USSegFixTargets`: adds the targets of a label map to an item.

    Args:
        keys: the label key (exactly one), an integer label map (1, H, W) as ``USMaskToLabeld(mode="index")`` gives.
        boundary_key: output key of the boundary target.
        direction_key: output key of the direction target.
        distance_key: output key of the distance map; None (default) does not store it.
        boundary_width, sigma, ignore_index, min_gradient: see :class:`USSegFixTargets`.
        allow_missing_keys: skip items without the label (unlabelled images).

    Raises:
        ValueError: several keys, or an output key equal to another key.
    """

    backend = USSegFixTargets.backend

    def __init__(
        self,
        keys: KeysCollection,
        boundary_key: str = "segfix_boundary",
        direction_key: str = "segfix_direction",
        distance_key: str | None = None,
        boundary_width: float = 5.0,
        sigma: float = 2.0,
        ignore_index: int = -1,
        min_gradient: float = 1e-3,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"USSegFixTargetsd: expected exactly one label key, got {list(self.keys)}.")
        outputs = [k for k in (boundary_key, direction_key, distance_key) if k is not None]
        if len(set(outputs)) != len(outputs) or self.keys[0] in outputs:
            raise ValueError(
                f"USSegFixTargetsd: output keys {outputs} must differ from each other and from {self.keys[0]!r}."
            )
        self.boundary_key, self.direction_key, self.distance_key = boundary_key, direction_key, distance_key
        self.converter = USSegFixTargets(boundary_width, sigma, ignore_index, min_gradient)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            boundary, direction, distance = self.converter(d[key])
            d[self.boundary_key], d[self.direction_key] = boundary, direction
            if self.distance_key is not None:
                d[self.distance_key] = distance
        return d


USSegFixTargetsD = USSegFixTargetsDict = USSegFixTargetsd
