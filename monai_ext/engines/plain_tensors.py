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
"""Plain tensors for the training step."""

from __future__ import annotations

from typing import TypeVar

import torch
from monai.data import MetaTensor

__all__ = ["as_plain_tensor"]

T = TypeVar("T", torch.Tensor, None)


def as_plain_tensor(x: T) -> T:
    """`x` without MONAI metadata (a ``torch.Tensor`` view of a ``MetaTensor``; anything else unchanged).

    MetaTensor's ``__torch_function__`` runs for every operation of the forward and backward pass; on a CPU that
    doubles the step time of a small U-Net, and the losses need no metadata.
    """
    return x.as_tensor() if isinstance(x, MetaTensor) else x
