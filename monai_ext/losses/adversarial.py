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

"""Adversarial losses of SABR-Net stage 1 (SABR bundle documentation, ``bundles/sabr_us_segmentation/docs/README.md``,
"Stage 1 losses").

- Image discriminator D_img: the non-saturating logistic loss of StyleGAN2 (Karras et al., CVPR 2020; rosinality's
  PyTorch port used by SemanticGAN): D minimises ``softplus(-D(real)) + softplus(D(fake))``, G minimises
  ``softplus(-D(fake))``.
- Multi-scale segmentation discriminator D_seg (pix2pixHD / SPADE PatchGAN, as in SemanticGAN): hinge loss on the
  final map of every scale, averaged over scales; D: ``(mean relu(1 + D(fake)) + mean relu(1 - D(real))) / 2``,
  G: ``-mean D(fake)``.
- Feature matching (pix2pixHD): L1 between the intermediate feature maps of D_seg on fake and on (detached) real
  inputs, summed over scales x intermediate layers, each weighted ``weight / num_scales`` (SABR-Net: weight 2, three
  scales, four intermediate layers of five). SABR-Net pairs an unlabelled fake with an unrelated labelled real
  sample (unpaired feature matching); that design is kept.

Discriminator outputs: a tensor (one scale), or a sequence over scales whose items are a tensor or the sequence of
that scale's layer outputs, last = final map (the D_seg of :mod:`monai_ext.networks` returns all five).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
import torch.nn.functional as F

__all__ = [
    "DiscriminatorOutputs",
    "feature_matching_l1_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "logistic_discriminator_loss",
    "logistic_generator_loss",
]

DiscriminatorOutputs = Union[torch.Tensor, Sequence[Union[torch.Tensor, Sequence[torch.Tensor]]]]
"""A discriminator's output: one tensor, or per scale a tensor or the list of its layer outputs (last = final)."""


def _final_maps(outputs: DiscriminatorOutputs, name: str) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if not isinstance(outputs, Sequence) or len(outputs) == 0:
        raise ValueError(
            f"{name}: expected a tensor or a non-empty sequence over scales, got {type(outputs).__name__}."
        )
    maps = []
    for i, scale in enumerate(outputs):
        if isinstance(scale, Sequence) and not isinstance(scale, torch.Tensor):
            if len(scale) == 0:
                raise ValueError(f"{name}: scale {i} has no layer outputs.")
            scale = scale[-1]
        if not isinstance(scale, torch.Tensor):
            raise ValueError(f"{name}: scale {i} is a {type(scale).__name__}, expected a tensor or a list of tensors.")
        maps.append(scale)
    return maps


def logistic_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic D loss ``mean softplus(-D(real)) + mean softplus(D(fake))`` (StyleGAN2).

    Pass ``D(G(x).detach())`` as ``fake_logits`` so that the D step does not reach the generator.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def logistic_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic G loss ``mean softplus(-D(fake))`` (StyleGAN2)."""
    return F.softplus(-fake_logits).mean()


def hinge_discriminator_loss(real_outputs: DiscriminatorOutputs, fake_outputs: DiscriminatorOutputs) -> torch.Tensor:
    """Hinge D loss averaged over scales: ``(L_fake + L_real) / 2`` with ``L_fake = mean_s mean relu(1 + D_s(fake))``
    and ``L_real = mean_s mean relu(1 - D_s(real))`` on the final map of each scale.

    Raises:
        ValueError: different numbers of scales.
    """
    real = _final_maps(real_outputs, "hinge_discriminator_loss")
    fake = _final_maps(fake_outputs, "hinge_discriminator_loss")
    if len(real) != len(fake):
        raise ValueError(f"hinge_discriminator_loss: {len(real)} real scales but {len(fake)} fake scales.")
    loss_real = torch.stack([F.relu(1.0 - r).mean() for r in real]).mean()
    loss_fake = torch.stack([F.relu(1.0 + f).mean() for f in fake]).mean()
    return 0.5 * (loss_fake + loss_real)


def hinge_generator_loss(fake_outputs: DiscriminatorOutputs) -> torch.Tensor:
    """Hinge G loss ``-mean_s mean D_s(fake)`` on the final map of each scale."""
    return -torch.stack([f.mean() for f in _final_maps(fake_outputs, "hinge_generator_loss")]).mean()


def feature_matching_l1_loss(
    fake_features: Sequence[Sequence[torch.Tensor]],
    real_features: Sequence[Sequence[torch.Tensor]],
    weight: float = 2.0,
) -> torch.Tensor:
    """pix2pixHD feature matching: ``sum_s sum_l (weight / S) * mean |F_sl(fake) - F_sl(real).detach()|``.

    Args:
        fake_features: per scale, the list of D_seg layer outputs on the fake input (last = final map, not used).
        real_features: the same on the real input; detached here.
        weight: ``lambda_dseg_feat`` (SABR-Net: 2).

    Raises:
        ValueError: mismatching numbers of scales or layers, or scales without intermediate layers.
    """
    if len(fake_features) != len(real_features) or len(fake_features) == 0:
        raise ValueError(
            f"feature_matching_l1_loss: {len(fake_features)} fake and {len(real_features)} real scales "
            "(need equal, > 0)."
        )
    scale_weight = weight / len(fake_features)
    terms = []
    for i, (fake, real) in enumerate(zip(fake_features, real_features)):
        if len(fake) != len(real) or len(fake) < 2:
            raise ValueError(
                f"feature_matching_l1_loss: scale {i} has {len(fake)} fake and {len(real)} real layer outputs (need "
                "equal, >= 2: intermediate layers + final map)."
            )
        for f, r in zip(fake[:-1], real[:-1]):
            terms.append(scale_weight * F.l1_loss(f, r.detach()))
    return torch.stack(terms).sum()
