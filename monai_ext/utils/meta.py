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

"""Metadata values after MONAI's collate / decollate, back to plain Python values.

Moved out of :mod:`monai_ext.inference.dicom_frames` (and a copy in :mod:`monai_ext.inference.uncertainty`): the
reader's metadata (DICOM attributes such as NumberOfFrames, ``frame_index``, ``region_box``, ``crop_offset``) come back
from a ``DataLoader`` as 0-d tensors or one-element lists; :func:`meta_scalar` undoes that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["meta_scalar"]


def meta_scalar(value: Any) -> Any:
    """A collated-then-decollated metadata value (0-d tensor, 1-element array or list) back to a Python value.

    Args:
        value: the value, e.g. ``tensor(7)``, ``[7]``, ``np.array([7])`` or ``7``.

    Returns:
        ``7`` for all of these; tensors and arrays of several elements become lists, other values are returned as
        they are.
    """
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, np.ndarray):
        return value.item() if value.size == 1 else value.tolist()
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return meta_scalar(value[0])
    return value
