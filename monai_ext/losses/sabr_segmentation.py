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

"""Segmentation loss of SABR-Net: temperature cross-entropy + squared-denominator Dice without background.

Provenance: SABR-Net's (SemanticGAN-derived) ``losses.py`` as described in the SABR bundle documentation
(``bundles/sabr_us_segmentation/docs/README.md``, "Segmentation losses"):
``L = CE(z / tau, y) + 1 - mean_{c >= 1} 2 sum(p_c y_c) / (sum p_c^2 + sum y_c^2)``, sums over the batch and the
pixels, with softmax logits z over C classes including background; stage 1 uses tau = 0.1, stage 2a and model C tau
= 1.

Deviations (fixes of the released code, listed in the bundle README):

- the Dice targets are one-hot {0, 1} (the released code maps them to {0.5, 1} with ``(mask + 1) / 2``);
- the Dice probabilities are the softmax of the logits by default (``dice_activation="softmax"``); the released code
  uses a per-channel sigmoid of ``z / 0.3`` (stage 1) or ``z / 1`` (stage 2a) on multi-class logits, which
  ``dice_activation="sigmoid_tau"`` with ``dice_temperature`` reproduces;
- a smoothing term ``smooth`` (1e-5) in the numerator and denominator keeps absent classes finite.

The Dice term is MONAI's ``DiceLoss(squared_pred=True, batch=True, include_background=False)`` on the activated
probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import nn

__all__ = ["DICE_ACTIVATIONS", "USSABRSegLoss", "label_to_one_hot"]

DICE_ACTIVATIONS = ("softmax", "sigmoid_tau")


def label_to_one_hot(target: torch.Tensor, num_classes: int, name: str = "target") -> torch.Tensor:
    """(B, 1, *spatial) or (B, *spatial) integer labels -> (B, num_classes, *spatial) float one-hot.

    Raises:
        ValueError: labels outside [0, num_classes).
    """
    index = target[:, 0] if target.dim() >= 2 and target.shape[1] == 1 else target
    index = index.long()
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_classes):
        raise ValueError(
            f"{name}: labels must be in [0, {num_classes - 1}] for {num_classes} classes, got "
            f"[{int(index.min())}, {int(index.max())}]."
        )
    return F.one_hot(index, num_classes).movedim(-1, 1).float()


def _targets(logits: torch.Tensor, target: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(index (B, *spatial) int64, one-hot (B, C, *spatial) float) of an index map or one-hot target."""
    num_classes = logits.shape[1]
    spatial = tuple(logits.shape[2:])
    if target.shape == logits.shape and num_classes > 1:
        if target.is_floating_point() and not torch.all((target == 0) | (target == 1)):
            raise ValueError(f"{name}: a one-hot target must hold 0 and 1 only.")
        one_hot = target.float()
        return one_hot.argmax(1), one_hot
    if tuple(target.shape[-len(spatial) :]) != spatial or target.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{name}: target {list(target.shape)} does not fit logits {list(logits.shape)}; expected (B, 1, *spatial) "
            "or (B, *spatial) class indices, or a (B, C, *spatial) one-hot map."
        )
    one_hot = label_to_one_hot(target, num_classes, name)
    return one_hot.argmax(1), one_hot


class USSABRSegLoss(nn.Module):
    """``ce_weight * CE(logits / ce_temperature, y) + dice_weight * Dice(p, y)`` over softmax classes.

    Args:
        ce_temperature: tau of the cross-entropy (stage 1: 0.1; stage 2a and model C: 1.0).
        dice_temperature: temperature of the Dice activation (legacy stage 1: 0.3 with ``"sigmoid_tau"``).
        dice_activation: ``"softmax"`` (default) or ``"sigmoid_tau"`` (per-channel sigmoid, the released code).
        ce_weight, dice_weight: weights of the two terms (SABR-Net: 1 and 1).
        smooth: added to the Dice numerator and denominator.

    Attributes:
        last_terms: detached ``{"ce": ..., "dice": ...}`` of the last call, for logging.

    Raises:
        ValueError: invalid options, fewer than two classes, or a target that does not fit the logits.
    """

    def __init__(
        self,
        ce_temperature: float = 1.0,
        dice_temperature: float = 1.0,
        dice_activation: str = "softmax",
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1e-5,
    ) -> None:
        super().__init__()
        if dice_activation not in DICE_ACTIVATIONS:
            raise ValueError(
                f"USSABRSegLoss: dice_activation must be one of {DICE_ACTIVATIONS}, got {dice_activation!r}."
            )
        if ce_temperature <= 0 or dice_temperature <= 0 or ce_weight < 0 or dice_weight < 0 or smooth < 0:
            raise ValueError(
                f"USSABRSegLoss: temperatures must be > 0 and weights, smooth >= 0, got ce_temperature="
                f"{ce_temperature}, dice_temperature={dice_temperature}, ce_weight={ce_weight}, dice_weight="
                f"{dice_weight}, smooth={smooth}."
            )
        self.ce_temperature = float(ce_temperature)
        self.dice_temperature = float(dice_temperature)
        self.dice_activation = dice_activation
        self.ce_weight = float(ce_weight)
        self.dice_weight = float(dice_weight)
        self.dice = DiceLoss(
            include_background=False, squared_pred=True, batch=True, smooth_nr=float(smooth), smooth_dr=float(smooth)
        )
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            logits: (B, C, *spatial) raw logits, C >= 2 including background.
            target: (B, 1, *spatial) or (B, *spatial) class indices, or a (B, C, *spatial) one-hot map.
        """
        if logits.dim() < 3 or logits.shape[1] < 2:
            raise ValueError(
                f"USSABRSegLoss: expected logits (B, C, *spatial) with C >= 2 classes including background, got "
                f"{list(logits.shape)}."
            )
        index, one_hot = _targets(logits, target, "USSABRSegLoss")
        ce = F.cross_entropy(logits / self.ce_temperature, index)
        scaled = logits / self.dice_temperature
        prob = torch.softmax(scaled, 1) if self.dice_activation == "softmax" else torch.sigmoid(scaled)
        dice = self.dice(prob, one_hot.to(prob.dtype))
        self.last_terms = {"ce": ce.detach(), "dice": dice.detach()}
        return self.ce_weight * ce + self.dice_weight * dice
