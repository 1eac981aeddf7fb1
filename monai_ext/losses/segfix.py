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

"""SegFix loss of SABR-Net's boundary model (model C): boundary-mask and direction cross-entropies.

Provenance: SegFix (Yuan et al., ECCV 2020, openseg.pytorch ``SegFixLoss``); the SABR-Net release imports a SegFix
loss it does not ship, so this is SegFix's loss as named, described in the SABR bundle documentation
(``bundles/sabr_us_segmentation/docs/README.md``, "Boundary refinement"):

- ``L_mask = CE(boundary_logits, b)`` with class weights ``1 - frequency`` of the two classes in the batch;
- ``L_dir = CE(direction_logits, dir)`` over the pixels where the **predicted** boundary probability exceeds 0.5,
  ``b = 1`` and the direction target is valid, with class weights ``1 - frequency`` over those pixels;
- ``L_SegFix = mask_weight * L_mask + direction_weight * L_dir`` (1 and 1).

Targets come from :class:`monai_ext.transforms.USSegFixTargetsd` in the data pipeline. Logits at another resolution
than the targets are resized bilinearly with ``align_corners=True`` (as SegFix).

Project decisions (bundle README): a weighted cross-entropy whose weights vanish on every present class (a batch of
one class: ``1 - frequency = 0``) falls back to the unweighted mean instead of 0/0 = NaN; an empty direction
selection (no predicted boundary pixel on a target boundary) gives an exact 0 that keeps the graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["USSegFixLoss", "inverse_frequency_cross_entropy"]


def inverse_frequency_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of (N, K) logits and (N,) targets with class weights ``1 - frequency`` of ``target``.

    The weighted mean is ``sum_i w[t_i] CE_i / sum_i w[t_i]`` (PyTorch's weighted ``cross_entropy``); when the weights
    of all present classes are 0 (one class only) the unweighted mean is returned. Empty input gives 0 (in the graph).
    """
    if target.numel() == 0:
        return logits.sum() * 0.0
    num_classes = logits.shape[1]
    counts = torch.bincount(target, minlength=num_classes).to(logits.dtype)
    weights = 1.0 - counts / counts.sum()
    ce = F.cross_entropy(logits, target, reduction="none")
    per_pixel = weights[target]
    total = per_pixel.sum()
    if total <= 0:
        return ce.mean()
    return (ce * per_pixel).sum() / total


def _flat(logits: torch.Tensor) -> torch.Tensor:
    return logits.movedim(1, -1).reshape(-1, logits.shape[1])


def _index_map(target: torch.Tensor, name: str, batch: int) -> torch.Tensor:
    t = target[:, 0] if target.dim() == 4 and target.shape[1] == 1 else target
    if t.dim() != 3 or t.shape[0] != batch:
        raise ValueError(
            f"USSegFixLoss: {name} must be (B, 1, H, W) or (B, H, W) with B = {batch}, got {list(target.shape)}."
        )
    return t.long()


class USSegFixLoss(nn.Module):
    """``mask_weight * L_mask + direction_weight * L_dir`` (SegFix).

    Args:
        boundary_threshold: predicted boundary probability (softmax channel 1) above which a pixel's direction is
            trained (SegFix: 0.5).
        ignore_index: direction target of pixels without a direction (:class:`~monai_ext.transforms.USSegFixTargets`
            default -1).
        mask_weight, direction_weight: weights of the two terms (1 and 1).

    Attributes:
        last_terms: detached ``{"mask": ..., "direction": ..., "direction_pixels": ...}`` of the last call.
    """

    def __init__(
        self,
        boundary_threshold: float = 0.5,
        ignore_index: int = -1,
        mask_weight: float = 1.0,
        direction_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= boundary_threshold < 1.0 or mask_weight < 0 or direction_weight < 0:
            raise ValueError(
                f"USSegFixLoss: need 0 <= boundary_threshold < 1 and weights >= 0, got {boundary_threshold}, "
                f"{mask_weight}, {direction_weight}."
            )
        self.boundary_threshold = float(boundary_threshold)
        self.ignore_index = int(ignore_index)
        self.mask_weight = float(mask_weight)
        self.direction_weight = float(direction_weight)
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(
        self,
        boundary_logits: torch.Tensor,
        direction_logits: torch.Tensor,
        boundary_target: torch.Tensor,
        direction_target: torch.Tensor,
    ) -> torch.Tensor:
        """
        Args:
            boundary_logits: (B, 2, h, w) boundary logits.
            direction_logits: (B, 8, h, w) direction logits.
            boundary_target: (B, 1, H, W) or (B, H, W) in {0, 1}.
            direction_target: (B, 1, H, W) or (B, H, W) in 0..7 or ``ignore_index``.

        Raises:
            ValueError: wrong channel counts or shapes, or target values out of range.
        """
        if boundary_logits.dim() != 4 or boundary_logits.shape[1] != 2:
            raise ValueError(f"USSegFixLoss: boundary_logits must be (B, 2, h, w), got {list(boundary_logits.shape)}.")
        if direction_logits.dim() != 4 or direction_logits.shape[1] != 8:
            raise ValueError(
                f"USSegFixLoss: direction_logits must be (B, 8, h, w), got {list(direction_logits.shape)}."
            )
        batch = boundary_logits.shape[0]
        b = _index_map(boundary_target, "boundary_target", batch)
        d = _index_map(direction_target, "direction_target", batch)
        if b.shape != d.shape:
            raise ValueError(
                f"USSegFixLoss: boundary and direction targets differ in shape: {list(b.shape)}, {list(d.shape)}."
            )
        if b.numel() and (int(b.min()) < 0 or int(b.max()) > 1):
            raise ValueError(f"USSegFixLoss: boundary_target must hold 0 and 1, got [{int(b.min())}, {int(b.max())}].")
        valid = d != self.ignore_index
        if valid.any() and (int(d[valid].min()) < 0 or int(d[valid].max()) > 7):
            raise ValueError(
                f"USSegFixLoss: direction_target must hold 0..7 or ignore_index={self.ignore_index}, got "
                f"[{int(d[valid].min())}, {int(d[valid].max())}]."
            )
        size = tuple(b.shape[1:])
        if tuple(boundary_logits.shape[2:]) != size:
            boundary_logits = F.interpolate(boundary_logits, size=size, mode="bilinear", align_corners=True)
        if tuple(direction_logits.shape[2:]) != size:
            direction_logits = F.interpolate(direction_logits, size=size, mode="bilinear", align_corners=True)
        mask_loss = inverse_frequency_cross_entropy(_flat(boundary_logits), b.reshape(-1))
        with torch.no_grad():
            predicted = torch.softmax(boundary_logits, 1)[:, 1] > self.boundary_threshold
        selected = (predicted & (b == 1) & valid).reshape(-1)
        direction_loss = inverse_frequency_cross_entropy(_flat(direction_logits)[selected], d.reshape(-1)[selected])
        self.last_terms = {
            "mask": mask_loss.detach(),
            "direction": direction_loss.detach(),
            "direction_pixels": selected.sum().detach(),
        }
        return self.mask_weight * mask_loss + self.direction_weight * direction_loss
