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

"""Lazy GAN regularisers of SABR-Net stage 1 (StyleGAN2, Karras et al., CVPR 2020, as in rosinality's port used by
SemanticGAN; SABR bundle documentation ``bundles/sabr_us_segmentation/docs/README.md``, "Stage 1 losses").

- :func:`r1_penalty`: ``(gamma / 2) * E_b ||grad_x D(x)||^2 * interval`` on real inputs, applied every ``interval``
  discriminator steps (lazy regularisation: the factor keeps the effective strength). SABR-Net: gamma 10 every 16
  steps for D_img and for D_seg.
- :class:`USPathLengthRegularizer`: the path-length penalty ``(|J_w^T y| - a)^2`` with ``y`` Gaussian noise scaled by
  ``1 / sqrt(H W)`` and ``a`` a running mean of the path lengths (decay 0.01), weighted ``weight * interval``
  (SABR-Net: 2 every 4 generator steps). The running mean is a buffer, so it is saved with the module's state_dict
  and a resumed run continues with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["USPathLengthRegularizer", "r1_penalty"]


def r1_penalty(
    outputs: torch.Tensor | Sequence[torch.Tensor | Sequence[torch.Tensor]],
    inputs: torch.Tensor,
    gamma: float = 10.0,
    interval: int = 1,
) -> torch.Tensor:
    """R1 gradient penalty on real inputs.

    Args:
        outputs: the discriminator's output on ``inputs``: a tensor (summed, as StyleGAN2) or, for a multi-scale
            discriminator, per scale a tensor or its list of layer outputs (the final maps' means are summed, as
            SABR-Net's D_seg).
        inputs: the real batch, with ``requires_grad`` set before the discriminator's forward.
        gamma: R1 weight (SABR-Net: 10); the penalty is ``gamma / 2 * mean_b sum ||grad||^2``.
        interval: lazy-regularisation interval (SABR-Net: 16); the penalty is multiplied by it.

    Raises:
        ValueError: ``inputs`` does not require grad (the gradient cannot be taken).
    """
    if not inputs.requires_grad:
        raise ValueError(
            "r1_penalty: inputs do not require grad; call inputs.requires_grad_(True) before the discriminator's "
            "forward pass."
        )
    if isinstance(outputs, torch.Tensor):
        score = outputs.sum()
    else:
        finals = [o[-1] if isinstance(o, Sequence) and not isinstance(o, torch.Tensor) else o for o in outputs]
        score = torch.stack([f.mean() for f in finals]).sum()
    (grad,) = torch.autograd.grad(outputs=score, inputs=inputs, create_graph=True)
    return (gamma / 2.0) * grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean() * interval


class USPathLengthRegularizer(nn.Module):
    """StyleGAN2 path-length regulariser with its running mean of path lengths.

    Args:
        weight: path-length weight (SABR-Net: 2).
        interval: lazy-regularisation interval (SABR-Net: 4); the penalty is multiplied by it.
        decay: update rate of the running mean (StyleGAN2: 0.01).

    Attributes:
        mean_path_length: buffer (in the state_dict), the running mean ``a``.
        last_path_lengths: path lengths of the last call (detached, for logging).

    Example::

        >>> reg = USPathLengthRegularizer()
        >>> w = mapping(z)  # (B, num_ws, w_dim) or (B, w_dim), part of the graph of the images
        >>> loss = reg(generator(x, mask, w), w)
    """

    def __init__(self, weight: float = 2.0, interval: int = 4, decay: float = 0.01) -> None:
        super().__init__()
        if weight < 0 or int(interval) < 1 or not 0 < decay <= 1:
            raise ValueError(
                f"USPathLengthRegularizer: need weight >= 0, interval >= 1 and 0 < decay <= 1, got {weight}, "
                f"{interval}, {decay}."
            )
        self.weight = float(weight)
        self.interval = int(interval)
        self.decay = float(decay)
        self.register_buffer("mean_path_length", torch.zeros(()))
        self.last_path_lengths: torch.Tensor | None = None

    def forward(
        self, images: torch.Tensor, latents: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Weighted penalty ``weight * interval * mean_b (|J^T y|_b - a)^2``; updates the running mean ``a``.

        Args:
            images: generated images (B, C, H, W) computed from ``latents``.
            latents: the mapped latents w, (B, w_dim) or (B, num_ws, w_dim); path lengths average over ``num_ws``.
            generator: optional random generator of the noise ``y`` (reproducible runs).

        Raises:
            ValueError: ``latents`` not in the graph of ``images`` or of an unsupported shape.
        """
        if images.dim() != 4 or latents.dim() not in (2, 3) or images.shape[0] != latents.shape[0]:
            raise ValueError(
                f"USPathLengthRegularizer: expected images (B, C, H, W) and latents (B, w_dim) or (B, num_ws, w_dim), "
                f"got {list(images.shape)} and {list(latents.shape)}."
            )
        if not images.requires_grad:
            raise ValueError("USPathLengthRegularizer: images do not depend on a tensor that requires grad.")
        noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        noise = noise / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad(outputs=(images * noise).sum(), inputs=latents, create_graph=True)
        squared = grad.pow(2).sum(-1)
        path_lengths = torch.sqrt(squared.mean(1) if squared.dim() == 2 else squared)
        mean = self.mean_path_length.to(path_lengths.dtype)
        # as StyleGAN2: the target includes this batch's mean (with its gradient, scaled by decay)
        path_mean = mean + self.decay * (path_lengths.mean() - mean)
        penalty = (path_lengths - path_mean).pow(2).mean()
        with torch.no_grad():
            self.mean_path_length.copy_(path_mean.detach())
        self.last_path_lengths = path_lengths.detach()
        return self.weight * self.interval * penalty

    def extra_repr(self) -> str:
        return f"weight={self.weight}, interval={self.interval}, decay={self.decay}"
