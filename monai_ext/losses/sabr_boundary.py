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

"""Total loss of SABR-Net stage 2b (model C):
``0.5 (CE + Dice)(coarse) + L_SegFix(boundary, direction) + 1.0 (CE + Dice)(refined)``.

Provenance: SABR-Net's ``finetune/train_segfix.py``, described in the SABR bundle documentation
(``bundles/sabr_us_segmentation/docs/README.md``, "Boundary refinement"). Fixes of the released code: the refined
branch's cross-entropy is taken on the refined **logits** (the release applies it to softmax probabilities, a double
softmax) and the refined logits are not rounded (the release's ``torch.round`` has zero gradient), so the refined term
trains the coarse logits through the refinement's gather. The release's division by the gradient-accumulation count
belongs to the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .sabr_segmentation import USSABRSegLoss
from .segfix import USSegFixLoss

__all__ = ["USSABRBoundaryLoss"]


class USSABRBoundaryLoss(nn.Module):
    """Stage-2b loss on model C's training outputs ``(coarse, boundary, direction, refined)``.

    Args:
        coarse_weight: weight of the segmentation loss of the coarse logits (SABR-Net: 0.5).
        segfix_weight: weight of the SegFix loss (1.0).
        refined_weight: weight of the segmentation loss of the refined logits (1.0).
        seg_loss: segmentation loss of both branches; default ``USSABRSegLoss()`` (CE tau 1 + softmax Dice).
        segfix_loss: default ``USSegFixLoss()``.

    Attributes:
        last_terms: detached ``{"coarse": ..., "segfix": ..., "refined": ...}`` of the last call.
    """

    def __init__(
        self,
        coarse_weight: float = 0.5,
        segfix_weight: float = 1.0,
        refined_weight: float = 1.0,
        seg_loss: nn.Module | None = None,
        segfix_loss: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if min(coarse_weight, segfix_weight, refined_weight) < 0:
            raise ValueError(
                f"USSABRBoundaryLoss: weights must be >= 0, got {coarse_weight}, {segfix_weight}, {refined_weight}."
            )
        self.coarse_weight = float(coarse_weight)
        self.segfix_weight = float(segfix_weight)
        self.refined_weight = float(refined_weight)
        self.seg_loss = seg_loss if seg_loss is not None else USSABRSegLoss()
        self.segfix_loss = segfix_loss if segfix_loss is not None else USSegFixLoss()
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(
        self,
        outputs: Sequence[torch.Tensor],
        label: torch.Tensor,
        boundary_target: torch.Tensor,
        direction_target: torch.Tensor,
    ) -> torch.Tensor:
        """
        Args:
            outputs: ``(coarse_logits, boundary_logits, direction_logits, refined_logits)`` as model C returns in
                training mode; coarse and refined (B, C, H, W) logits.
            label: (B, 1, H, W) class indices (or a one-hot map).
            boundary_target, direction_target: SegFix targets (:class:`~monai_ext.transforms.USSegFixTargetsd`).

        Raises:
            ValueError: ``outputs`` is not a 4-sequence.
        """
        if isinstance(outputs, torch.Tensor) or len(outputs) != 4:
            raise ValueError(
                "USSABRBoundaryLoss: outputs must be (coarse, boundary, direction, refined) from model C's training "
                f"forward, got {type(outputs).__name__}"
                + ("" if isinstance(outputs, torch.Tensor) else f" of length {len(outputs)}")
                + "."
            )
        coarse, boundary, direction, refined = outputs
        coarse_loss = self.seg_loss(coarse, label)
        segfix = self.segfix_loss(boundary, direction, boundary_target, direction_target)
        refined_loss = self.seg_loss(refined, label)
        self.last_terms = {"coarse": coarse_loss.detach(), "segfix": segfix.detach(), "refined": refined_loss.detach()}
        return self.coarse_weight * coarse_loss + self.segfix_weight * segfix + self.refined_weight * refined_loss
