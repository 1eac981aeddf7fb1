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

"""BCE + soft Dice on independent sigmoid channels (the ``BCEDiceLoss`` of UNeXt / CMU-Net / MGCC, docs/methods/mgcc.md,
"Losses").

``loss = bce_weight * BCEWithLogits(logits, y) + dice_weight * (1 - mean Dice)``, with the soft Dice
``(2 * sum(p * y) + smooth) / (sum(p) + sum(y) + smooth)``, ``p = sigmoid(logits)``, per sample (and per channel by
default). Why not ``monai.losses.DiceCELoss(sigmoid=True)``: for more than one output channel it switches to a softmax
cross-entropy over the channels (MONAI 1.6.1), which is wrong for independent per-structure sigmoids; with one channel
the two are identical (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from monai_ext.utils.flags import parse_flag

__all__ = ["USBCEDiceLoss"]


class USBCEDiceLoss(_Loss):
    """Weighted sum of binary cross-entropy on logits and a soft Dice loss on sigmoid probabilities.

    Args:
        bce_weight: weight of the BCE term (MGCC: 0.5). BCE is the mean over all elements.
        dice_weight: weight of the Dice term (MGCC: 1.0).
        smooth: added to the numerator and the denominator of every Dice (MGCC: 1e-5).
        per_channel: True (default): one Dice per sample and channel, averaged (the natural extension to several
            structures; identical to MGCC for one channel). False: one Dice per sample over all channels and pixels
            (the literal MGCC formula for any number of channels).

    Raises:
        ValueError: negative weights or smooth.

    Example::

        >>> loss = USBCEDiceLoss()
        >>> loss(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8))  # 0.5 * log(2) + (1 - 2*32/(32+64))
    """

    def __init__(
        self, bce_weight: float = 0.5, dice_weight: float = 1.0, smooth: float = 1e-5, per_channel: bool = True
    ) -> None:
        super().__init__()
        if bce_weight < 0 or dice_weight < 0 or smooth < 0:
            raise ValueError(
                f"USBCEDiceLoss: bce_weight, dice_weight and smooth must be >= 0, got {bce_weight}, {dice_weight}, "
                f"{smooth}."
            )
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)
        self.per_channel = parse_flag(per_channel, "per_channel")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits (B, C, *spatial).
            target: binary targets of the same shape (one channel per structure, no background).

        Raises:
            ValueError: when the shapes differ or the input has no spatial dimension.
        """
        if input.shape != target.shape:
            raise ValueError(
                f"USBCEDiceLoss: input and target must have the same shape (B, C, *spatial), got {list(input.shape)} "
                f"and {list(target.shape)}."
            )
        if input.dim() < 3:
            raise ValueError(f"USBCEDiceLoss: expected (B, C, *spatial), got shape {list(input.shape)}.")
        # in float32 also under bfloat16 autocast, whatever dtype the network's head returns: bf16 keeps 3
        # significant digits, too few for the soft Dice's sums over ~10^4 pixels
        input, target = input.float(), target.float()
        bce = F.binary_cross_entropy_with_logits(input, target)
        prob = torch.sigmoid(input)
        dims = tuple(range(2, input.dim())) if self.per_channel else tuple(range(1, input.dim()))
        inter = (prob * target).sum(dims)
        denom = prob.sum(dims) + target.sum(dims)
        dice = (2.0 * inter + self.smooth) / (denom + self.smooth)
        return self.bce_weight * bce + self.dice_weight * (1.0 - dice.mean())
