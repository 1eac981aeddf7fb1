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

"""Edge region inpainting (ERI): the boundary refinement left disabled in the released SABR-Net code.

Re-implemented (no code copied) from the SABR bundle docs (``bundles/sabr_us_segmentation/docs/README.md``). **Not
verified against the paper**: the released pipeline uses the SegFix-style refinement; ERI is offered as the
alternative ``boundary_refinement="eri"`` of model C.

- :func:`eri_confidence`: ``1 - exp(-(p - 0.5)^2 / (2 std(p)^2))`` with the standard deviation over the whole batch
  tensor; about 0 at uncertain (edge) pixels, towards 1 where the prediction is confident.
- :class:`EdgeRegionInpainting`, two-class form (``num_classes == 2``; confidence of the foreground probability):
  ``f = ReLU(BN(conv3x3(f * map) / (avgpool3x3(map) + eps))) + f_prev`` (a partial-convolution-like normalisation
  that treats the uncertain band as a hole and fills it from confident neighbours), then
  ``map = confidence(softmax(conv1x1(f)))``; multi-class form: one confidence map per class and
  ``f = ReLU(conv3x3(cat_c[f * map_c])) + f_prev`` (no BN, no normalisation), as in the public code. The module
  returns ``(f, conv1x1(f))`` (features and refined logits).

Deviations: ``eps = 1e-6`` in the average-pool division (the public code has none) and ``1e-12`` under the standard
deviation of the confidence (a constant map would divide by zero); the public early stop
(``||1 - map|| < 20`` or ``||map_old - map|| < 1``) is only tested when another iteration follows (at the last
iteration it cannot change the result), so ``max_iter=1`` has no data-dependent control flow.
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_ext.networks.arg_checks import check_positive_int

__all__ = ["eri_confidence", "EdgeRegionInpainting"]


def eri_confidence(prob: torch.Tensor) -> torch.Tensor:
    """ERI confidence ``1 - exp(-(p - 0.5)^2 / (2 std(p)^2))``; std over the whole tensor."""
    var = prob.std().square() + 1e-12
    return 1.0 - torch.exp(-(prob - 0.5).square() / (2.0 * var))


class EdgeRegionInpainting(nn.Module):
    """One ERI module.

    Args:
        channels: feature channels (128 in model C).
        num_classes: logit channels; 2 selects the two-class form, more the multi-class form.
        max_iter: refinement iterations (1).
        eps: added to the average-pooled confidence in the two-class form (1e-6).
        stop_norm: early stop when ``||1 - map||_2`` falls below it (20).
        stop_change: early stop when ``||map_old - map||_2`` falls below it (1).
    """

    def __init__(
        self,
        channels: int = 128,
        num_classes: int = 2,
        max_iter: int = 1,
        eps: float = 1e-6,
        stop_norm: float = 20.0,
        stop_change: float = 1.0,
    ) -> None:
        super().__init__()
        check_positive_int("EdgeRegionInpainting", "channels", channels)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"EdgeRegionInpainting: num_classes must be an int >= 2, got {num_classes!r}.")
        self.max_iter = check_positive_int("EdgeRegionInpainting", "max_iter", max_iter)
        self.num_classes, self.eps = num_classes, float(eps)
        self.stop_norm, self.stop_change = float(stop_norm), float(stop_change)
        self.binary = num_classes == 2
        in_r = channels if self.binary else channels * num_classes
        self.conv_r = nn.Conv2d(in_r, channels, 3, 1, 1)
        self.bn = nn.BatchNorm2d(channels) if self.binary else nn.Identity()
        self.conv_o = nn.Conv2d(channels, num_classes, 1)

    def confidence(self, logits: torch.Tensor) -> torch.Tensor:
        """Confidence map(s) of logits: (B, 1, H, W) (foreground) for two classes, else (B, C, H, W)."""
        prob = logits.softmax(dim=1)
        if self.binary:
            return eri_confidence(prob[:, 1:])
        return torch.cat([eri_confidence(prob[:, c : c + 1]) for c in range(self.num_classes)], dim=1)

    def forward(self, feature: torch.Tensor, conf_map: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``feature``: (B, channels, H, W); ``conf_map``: from :meth:`confidence`. Returns ``(feature, logits)``."""
        for it in range(self.max_iter):
            ori = feature
            if self.binary:
                f = self.conv_r(feature * conf_map) / (F.avg_pool2d(conf_map, 3, 1, padding=1) + self.eps)
                f = F.relu(self.bn(f))
            else:
                per_class = [feature * conf_map[:, c : c + 1] for c in range(self.num_classes)]
                f = F.relu(self.conv_r(torch.cat(per_class, dim=1)))
            feature = f + ori
            if it < self.max_iter - 1:
                new_map = self.confidence(self.conv_o(feature))
                converged = torch.norm(1.0 - new_map) < self.stop_norm
                if bool(converged) or bool(torch.norm(conf_map - new_map) < self.stop_change):
                    break
                conf_map = new_map
        return feature, self.conv_o(feature)
