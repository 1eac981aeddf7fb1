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

"""Inpainting losses of SABR-Net stage 1 (SABR bundle documentation, ``bundles/sabr_us_segmentation/docs/README.md``,
"Stage 1 losses"; MAT / SemanticGAN lineage).

- :class:`USReconstructionL1Loss`: the reconstruction term. The released code intends a hole-normalised L1 but its
  default reduction makes it the plain mean L1 over the whole image; for SABR-Net's generator (no output compositing)
  the whole-image mean is the consistent choice (the visible region must be reproduced too) and is the default.
  ``mode="hole_weighted"`` composites (``x_hat = G (1 - m) + x m``, :func:`composite_inpainting`) and normalises by
  the hole area; the trainer must then feed the same composite to the discriminator and the perceptual/style losses
  (never one without the other).
- :class:`USPerceptualL1Loss`: ``sum_f mean |E(x, m)_f - E(x_hat, 1)_f|`` over the feature taps of the frozen
  encoder E (the project's stage-0 snapshot instead of the unreleased MAT checkpoint; nothing is downloaded).
- :class:`USGramStyleLoss`: ``sum_f mean |Gram(E(x, m)_f) - Gram(E(x_hat, 1)_f)|`` with
  ``Gram(F) = F^T F / (h w c)`` (:func:`gram_matrix`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "RECONSTRUCTION_MODES",
    "USGramStyleLoss",
    "USPerceptualL1Loss",
    "USReconstructionL1Loss",
    "composite_inpainting",
    "gram_matrix",
]

RECONSTRUCTION_MODES = ("mean", "hole_weighted")


def composite_inpainting(generated: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``generated * (1 - mask) + image * mask``: the generator's output in the holes, the input elsewhere.

    Args:
        generated: (B, C, H, W) generator output.
        image: (B, C, H, W) original image.
        mask: (B, 1, H, W) or (B, C, H, W), 1 = visible, 0 = hole.
    """
    if generated.shape != image.shape:
        raise ValueError(
            f"composite_inpainting: generated {list(generated.shape)} and image {list(image.shape)} differ in shape."
        )
    return generated * (1 - mask) + image * mask


class USReconstructionL1Loss(nn.Module):
    """Reconstruction L1 of the inpainting path.

    Args:
        mode: ``"mean"`` (default): ``mean |x - G|`` over all pixels, no compositing (SABR-Net's effective loss);
            ``"hole_weighted"``: ``sum |x - x_hat| / (number of hole elements)`` with ``x_hat`` the composite, i.e.
            the mean absolute error over the hole pixels only (0 when there is no hole).

    Raises:
        ValueError: unknown mode; missing or wrongly shaped mask in ``"hole_weighted"`` mode.
    """

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        if mode not in RECONSTRUCTION_MODES:
            raise ValueError(f"USReconstructionL1Loss: mode must be one of {RECONSTRUCTION_MODES}, got {mode!r}.")
        self.mode = mode

    def forward(self, generated: torch.Tensor, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            generated: (B, C, H, W) generator output (not composited).
            image: (B, C, H, W) original image (the target).
            mask: (B, 1, H, W) hole mask, 1 = visible; needed for ``"hole_weighted"``.
        """
        if generated.shape != image.shape:
            raise ValueError(
                f"USReconstructionL1Loss: generated {list(generated.shape)} and image {list(image.shape)} differ."
            )
        if self.mode == "mean":
            return F.l1_loss(generated, image)
        fits = mask is not None and mask.dim() == image.dim() and mask.shape[0] == image.shape[0]
        if not fits or mask.shape[2:] != image.shape[2:]:
            raise ValueError(
                "USReconstructionL1Loss: mode='hole_weighted' needs the hole mask (B, 1, H, W) of the image, got "
                f"{None if mask is None else list(mask.shape)} for image {list(image.shape)}."
            )
        holes = (1 - mask).expand_as(image)
        error = (image - composite_inpainting(generated, image, mask)).abs()
        return error.sum() / holes.sum().clamp_min(1.0)


def _layer_weights(
    a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], layer_weights: Sequence[float] | None, name: str
) -> list[float]:
    """Check two lists of feature maps against each other and return one weight per map (default 1 each)."""
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"{name}: got {len(a)} and {len(b)} feature maps (need the same number, > 0).")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise ValueError(f"{name}: feature map {i} has shapes {list(x.shape)} and {list(y.shape)}.")
    weights = list(layer_weights) if layer_weights else [1.0] * len(a)
    if len(weights) != len(a):
        raise ValueError(f"{name}: {len(weights)} layer weights for {len(a)} feature maps.")
    return weights


class USPerceptualL1Loss(nn.Module):
    """``sum_f w_f * mean |a_f - b_f|`` over a list of feature maps (SABR-Net: the four taps of E, weights 1).

    Args:
        layer_weights: one weight per feature map; default 1 each.
    """

    def __init__(self, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]

    def forward(self, features: Sequence[torch.Tensor], target_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            features: feature maps of the generated image, ``E(x_hat, 1)``.
            target_features: feature maps of the masked real image, ``E(x, m)`` (no gradient needed).
        """
        weights = _layer_weights(features, target_features, self.layer_weights, "USPerceptualL1Loss")
        return torch.stack([w * F.l1_loss(a, b) for w, a, b in zip(weights, features, target_features)]).sum()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``F^T F / (h w c)`` of (B, C, *spatial) features, with F the (h w, c) matrix: (B, C, C)."""
    if features.dim() < 3:
        raise ValueError(f"gram_matrix: expected (B, C, *spatial) features, got shape {list(features.shape)}.")
    b, c = features.shape[:2]
    flat = features.reshape(b, c, -1)
    return flat @ flat.transpose(1, 2) / (flat.shape[2] * c)


class USGramStyleLoss(nn.Module):
    """Style loss ``sum_f w_f * mean |Gram(a_f) - Gram(b_f)|`` with :func:`gram_matrix` (SABR-Net weight: 250).

    Args:
        layer_weights: one weight per feature map; default 1 each.
    """

    def __init__(self, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]

    def forward(self, features: Sequence[torch.Tensor], target_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            features: feature maps of the generated image.
            target_features: feature maps of the masked real image.
        """
        weights = _layer_weights(features, target_features, self.layer_weights, "USGramStyleLoss")
        return torch.stack(
            [w * F.l1_loss(gram_matrix(a), gram_matrix(b)) for w, a, b in zip(weights, features, target_features)]
        ).sum()
