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
"""Method objects of SABR-Net's labelled-only stages for :class:`~monai_ext.engines.SemiSupervisedTrainer`.

Both follow the method contract of :mod:`monai_ext.engines.methods` (no optimiser, no step; every loss entry is
logged) and use no unlabelled batch: SABR-Net uses unlabelled images in stage 1 only (bundle README, "Pipeline").

- :class:`SABRFinetuneMethod` (stage 2a, ``finetune.json``): generator B on **unmasked** labelled images,
  ``CE(z / 1, y) + Dice`` (:class:`~monai_ext.losses.USSABRSegLoss`, temperature 1, softmax Dice without background);
  the generator draws its latent at every training call, as in the released code.
- :class:`SABRBoundaryMethod` (stage 2b, ``train.json``): model C's training forward ``(coarse, boundary, direction,
  refined)`` and :class:`~monai_ext.losses.USSABRBoundaryLoss`; the SegFix targets are computed in the data pipeline
  (:class:`~monai_ext.transforms.USSegFixTargetsd`) and read from the labelled batch of the iteration context.

Gradient clipping (5 in stage 2a) is the trainer's business, not the method's: the bundle attaches
:class:`~monai_ext.handlers.USGradientClipHandler` on ``BACKWARD_COMPLETED``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from monai_ext.engines.methods import USIterationContext
from monai_ext.engines.plain_tensors import as_plain_tensor
from monai_ext.losses import USSABRBoundaryLoss, USSABRSegLoss

__all__ = ["SABRBoundaryMethod", "SABRFinetuneMethod"]


def _terms(loss: Any, prefix: str, ref: torch.Tensor) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": torch.as_tensor(v, device=ref.device).detach().float()
            for k, v in getattr(loss, "last_terms", {}).items()}


class SABRFinetuneMethod:
    """Stage 2a: the segmentation loss of generator B on unmasked labelled images.

    Args:
        loss_function: ``loss(logits, label)``; default ``USSABRSegLoss(ce_temperature=1.0)``.

    Returns (call):
        the segmentation logits and ``{"loss", "loss_sup", "loss_ce", "loss_dice"}`` (the last two when the loss
        records its terms).
    """

    def __init__(self, loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
        self.loss_function = loss_function if loss_function is not None else USSABRSegLoss(ce_temperature=1.0)

    def __call__(
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = network(x_l)  # no mask: real, unmasked images bridge the gap to inference
        logits = (out[1] if isinstance(out, (tuple, list)) else out).float()
        loss = self.loss_function(logits, y_l)
        return logits, {"loss": loss, "loss_sup": loss.detach(), **_terms(self.loss_function, "loss_", loss)}


class SABRBoundaryMethod:
    """Stage 2b: model C with the boundary loss ``0.5 (CE + Dice)(coarse) + SegFix + (CE + Dice)(refined)``.

    Args:
        loss_function: default :class:`~monai_ext.losses.USSABRBoundaryLoss` (weights 0.5 / 1 / 1).
        boundary_key: labelled-batch key of the SegFix boundary target.
        direction_key: labelled-batch key of the SegFix direction target.

    Returns (call):
        the refined logits (the shipped output) and ``loss``, ``loss_sup``, ``loss_coarse``, ``loss_segfix``,
        ``loss_refined``, ``loss_segfix_mask``, ``loss_segfix_direction`` and ``segfix_direction_pixels``. With the
        ERI refinement (model C returns ``(coarse, refined)``) the SegFix entries are absent and no targets are read.

    Raises:
        KeyError: the labelled batch lacks the SegFix targets (add ``USSegFixTargetsd`` to the labelled pipeline).
    """

    def __init__(
        self,
        loss_function: USSABRBoundaryLoss | None = None,
        boundary_key: str = "segfix_boundary",
        direction_key: str = "segfix_direction",
    ) -> None:
        self.loss_function = loss_function if loss_function is not None else USSABRBoundaryLoss()
        self.boundary_key, self.direction_key = boundary_key, direction_key

    def _target(self, batch: Mapping[str, Any], key: str, device: torch.device) -> torch.Tensor:
        if key not in batch:
            raise KeyError(
                f"SABRBoundaryMethod: the labelled batch has no {key!r} (keys: {sorted(batch)}); add "
                "monai_ext.transforms.USSegFixTargetsd to the labelled training pipeline."
            )
        return torch.as_tensor(as_plain_tensor(batch[key])).to(device)

    def __call__(
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        outputs = [o.float() for o in network(x_l)]
        lf = self.loss_function
        if len(outputs) == 2:  # ERI refinement: no SegFix heads
            coarse, refined = outputs
            loss_coarse, loss_refined = lf.seg_loss(coarse, y_l), lf.seg_loss(refined, y_l)
            loss = lf.coarse_weight * loss_coarse + lf.refined_weight * loss_refined
            return refined, {"loss": loss, "loss_sup": loss.detach(), "loss_coarse": loss_coarse.detach(),
                             "loss_refined": loss_refined.detach()}
        batch = context.labeled_batch if context is not None else {}
        boundary = self._target(batch, self.boundary_key, x_l.device)
        direction = self._target(batch, self.direction_key, x_l.device)
        loss = lf(outputs, y_l, boundary, direction)
        losses = {"loss": loss, "loss_sup": loss.detach(), **_terms(lf, "loss_", loss)}
        segfix = _terms(lf.segfix_loss, "loss_segfix_", loss)
        if "loss_segfix_direction_pixels" in segfix:
            segfix["segfix_direction_pixels"] = segfix.pop("loss_segfix_direction_pixels")
        losses.update(segfix)
        return outputs[-1], losses
