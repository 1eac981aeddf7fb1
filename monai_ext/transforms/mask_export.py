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
"""Turn predicted label maps back into the mask gray values of a dataset, for writing masks to disk."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

__all__ = ["USLabelToMask", "USLabelToMaskd"]


def _gray_values(labels: Mapping[str, Sequence[int]] | Sequence[Sequence[int]]) -> list[int]:
    values = list(labels.values()) if isinstance(labels, Mapping) else list(labels)
    if not values:
        raise ValueError("labels must name at least one structure.")
    return [int(v[0]) if isinstance(v, Sequence) else int(v) for v in values]


class USLabelToMask(Transform):
    """
    Map a label index map (1, H, W) with values 0..C to the dataset's mask gray values (the first gray value of
    each structure: 255 for a binary lesion mask, 1/2/3 for the cardiac structures), as uint8.

    Args:
        labels: the labels table, structure name -> gray values (or a list of gray-value lists), in label order.
    """

    def __init__(self, labels: Mapping[str, Sequence[int]] | Sequence[Sequence[int]]) -> None:
        self.lut = torch.tensor([0] + _gray_values(labels), dtype=torch.uint8)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        index = torch.as_tensor(img).long()
        if index.min() < 0 or index.max() >= len(self.lut):
            raise ValueError(f"label values must be in [0, {len(self.lut) - 1}], got [{index.min()}, {index.max()}].")
        out = self.lut.to(index.device)[index]
        if hasattr(img, "meta"):
            from monai.data import MetaTensor

            out = MetaTensor(out, meta=img.meta, applied_operations=getattr(img, "applied_operations", []))
        return out


class USLabelToMaskd(MapTransform):
    """Dictionary version of :class:`USLabelToMask`."""

    def __init__(
        self,
        keys: KeysCollection,
        labels: Mapping[str, Sequence[int]] | Sequence[Sequence[int]],
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = USLabelToMask(labels)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
