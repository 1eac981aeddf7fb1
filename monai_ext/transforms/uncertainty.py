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

"""The dictionary transform that splits the decoder-disagreement map off a prediction (``docs/uncertainty.md``).

Moved from :mod:`monai_ext.inference.uncertainty` (still importable from there and from :mod:`monai_ext.inference`).
:class:`USSplitUncertaintyd` (aliases ``USSplitUncertaintyD``, ``USSplitUncertaintyDict``) is the first
postprocessing step of the bundles' inference with ``uncertainty`` true: it moves the channel that
:class:`monai_ext.inference.USDecoderDisagreementInferer` appends to its own key.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

__all__ = ["USSplitUncertaintyD", "USSplitUncertaintyDict", "USSplitUncertaintyd"]


class USSplitUncertaintyd(MapTransform):
    """Move the last channel of ``keys`` (the map appended by :class:`USDecoderDisagreementInferer`) to
    ``uncertainty_key``; the prediction keeps the other channels. The moved map shares the prediction's metadata and
    transform trace, so ``Invertd`` with ``orig_keys="image"`` inverts it like the prediction.

    Args:
        keys: the prediction key (one key).
        uncertainty_key: key of the map, ``(1, *spatial)``.
        allow_missing_keys: don't raise when the prediction is missing.
    """

    def __init__(self, keys: KeysCollection, uncertainty_key: str = "uncertainty", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"USSplitUncertaintyd takes one prediction key, got {self.keys}.")
        self.uncertainty_key = uncertainty_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            if pred.shape[0] < 2:
                raise ValueError(
                    f"{key!r} has {pred.shape[0]} channel(s): no uncertainty channel to split off; is the inferer "
                    "USDecoderDisagreementInferer with enabled=True?"
                )
            d[self.uncertainty_key] = pred[-1:]
            d[key] = pred[:-1]
        return d


USSplitUncertaintyD = USSplitUncertaintyDict = USSplitUncertaintyd
