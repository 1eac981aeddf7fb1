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

"""Feature perturbations of cross-consistency training (CCT, MGCC, MSMO).

The three perturbations feed the auxiliary decoders of a multi-decoder network (SSL4MIS ``UNet_CCT``, MGCC, MSMO).
They follow SSL4MIS ``code/networks/unet.py`` (commit ``06df6047``) and MGCC as described in docs/methods/mgcc.md, "Taps
and perturbations":

- :class:`FeatureDropoutPerturbation`: zero the most activated spatial positions (channel-mean attention above a
  random fraction ``gamma`` of its per-sample maximum).
- :class:`DropoutPerturbation`: inverted dropout, elementwise by default (``p=0.3``), optionally channel-wise.
- :class:`FeatureNoisePerturbation`: multiplicative uniform noise ``x + x * n`` with one noise field shared by the
  whole batch.

Every module is active in training mode only and is the identity in evaluation mode (the public code calls them only
in the training branch). Random numbers come from torch's generator on the device of the input, so that runs are
reproducible under :func:`monai.utils.set_determinism` and no host-device copy is needed (a documented deviation from
the public code, which draws with NumPy and on the CPU; the distributions are identical).

:class:`PerturbedDecoder` pairs a perturbation with a decoder that consumes a list of encoder features; it applies the
perturbation to every feature, then decodes.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "feature_dropout",
    "feature_noise",
    "FeatureDropoutPerturbation",
    "DropoutPerturbation",
    "FeatureNoisePerturbation",
    "PerturbedDecoder",
]


def feature_dropout(x: torch.Tensor, gamma_low: float = 0.7, gamma_high: float = 0.9) -> torch.Tensor:
    """Zero the most activated spatial positions of ``x`` (SSL4MIS ``FeatureDropout``), whatever the module mode.

    ``a = mean_c(x)`` (B×1×spatial); ``m_b = max over space of a_b``; one scalar ``gamma ~ U(gamma_low, gamma_high)``
    is drawn per call and shared by the whole batch; the keep mask ``a < m_b * gamma`` is broadcast over channels.
    Kept values are not rescaled.

    Args:
        x: feature map of shape (B, C, *spatial) with at least one spatial dimension.
        gamma_low: lower bound of the threshold fraction.
        gamma_high: upper bound of the threshold fraction.

    Returns:
        ``x`` times the keep mask (a new tensor).
    """
    if x.dim() < 3:
        raise ValueError(f"feature_dropout: expected a tensor (B, C, *spatial), got shape {list(x.shape)}.")
    # the mask is not differentiated, so the attention statistics need no autograd graph
    attention = x.detach().mean(dim=1, keepdim=True)
    max_val = attention.flatten(1).amax(dim=1)
    gamma = torch.empty(1, device=x.device, dtype=attention.dtype).uniform_(gamma_low, gamma_high)
    threshold = (max_val * gamma).view([x.shape[0]] + [1] * (x.dim() - 1))
    keep = (attention < threshold).to(x.dtype)
    return x * keep


def feature_noise(x: torch.Tensor, uniform_range: float = 0.3) -> torch.Tensor:
    """Multiplicative uniform noise ``x + x * n`` (SSL4MIS ``FeatureNoise``), whatever the module mode.

    ``n ~ U(-uniform_range, uniform_range)`` has the shape of one sample (C, *spatial), is drawn afresh per call on the
    device of ``x`` and is shared across the batch (broadcast on the batch dimension).

    Args:
        x: feature map of shape (B, C, *spatial).
        uniform_range: half-width ``r`` of the noise interval.

    Returns:
        the perturbed tensor (a new tensor).
    """
    if x.dim() < 2:
        raise ValueError(f"feature_noise: expected a tensor (B, C, ...), got shape {list(x.shape)}.")
    # one sample's worth of noise (1, C, *spatial), broadcast over the batch; empty_like keeps x's device, dtype and
    # memory format (e.g. channels_last), so the perturbation does not force a layout conversion downstream
    noise = torch.empty_like(x[:1]).uniform_(-uniform_range, uniform_range)
    # addcmul computes x + x * n in one kernel and saves no extra intermediate for backward
    return torch.addcmul(x, x, noise)


class FeatureDropoutPerturbation(nn.Module):
    """Feature dropout: zero the most activated positions (training mode only).

    See :func:`feature_dropout`. The identity in evaluation mode.

    Args:
        gamma_range: ``(low, high)`` bounds of the uniform threshold fraction, ``0 <= low <= high``. Default
            ``(0.7, 0.9)`` as SSL4MIS and MGCC.
    """

    def __init__(self, gamma_range: Sequence[float] = (0.7, 0.9)) -> None:
        super().__init__()
        if len(gamma_range) != 2:
            raise ValueError(f"FeatureDropoutPerturbation: gamma_range must be (low, high), got {gamma_range!r}.")
        low, high = float(gamma_range[0]), float(gamma_range[1])
        if not 0.0 <= low <= high:
            raise ValueError(f"FeatureDropoutPerturbation: need 0 <= low <= high in gamma_range, got {gamma_range!r}.")
        self.gamma_low = low
        self.gamma_high = high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return feature_dropout(x, self.gamma_low, self.gamma_high)

    def extra_repr(self) -> str:
        return f"gamma_range=({self.gamma_low}, {self.gamma_high})"


class DropoutPerturbation(nn.Module):
    """The "Dropout" perturbation of CCT / MGCC: inverted dropout in training mode, the identity in evaluation mode.

    Args:
        p: drop probability in [0, 1). Default 0.3 (SSL4MIS ``06df6047`` and MGCC); kept values are scaled by
            ``1 / (1 - p)``.
        mode: ``"element"`` (default; elementwise, ``torch.nn.functional.dropout`` as in SSL4MIS and MGCC) or
            ``"channel"`` (whole feature maps, ``dropout2d`` / ``dropout3d``, as in older SSL4MIS revisions).
    """

    def __init__(self, p: float = 0.3, mode: str = "element") -> None:
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"DropoutPerturbation: p must be in [0, 1), got {p!r}.")
        if mode not in ("element", "channel"):
            raise ValueError(f"DropoutPerturbation: mode must be 'element' or 'channel', got {mode!r}.")
        self.p = float(p)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.mode == "element":
            return F.dropout(x, self.p, True)
        if x.dim() == 4:
            return F.dropout2d(x, self.p, True)
        if x.dim() == 5:
            return F.dropout3d(x, self.p, True)
        raise ValueError(f"DropoutPerturbation: mode 'channel' needs a 4D or 5D tensor, got shape {list(x.shape)}.")

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


class FeatureNoisePerturbation(nn.Module):
    """Multiplicative uniform feature noise shared across the batch (training mode only).

    See :func:`feature_noise`. The identity in evaluation mode. No parameters.

    Args:
        uniform_range: half-width ``r > 0`` of the noise interval U(-r, r). Default 0.3.
    """

    def __init__(self, uniform_range: float = 0.3) -> None:
        super().__init__()
        if not float(uniform_range) > 0.0:
            raise ValueError(f"FeatureNoisePerturbation: uniform_range must be > 0, got {uniform_range!r}.")
        self.uniform_range = float(uniform_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return feature_noise(x, self.uniform_range)

    def extra_repr(self) -> str:
        return f"uniform_range={self.uniform_range}"


class PerturbedDecoder(nn.Module):
    """An auxiliary decoder branch: perturb every feature of the list, then decode.

    Keeping the perturbation inside the branch lets a caller run the whole branch under
    :func:`torch.utils.checkpoint.checkpoint` (the perturbed copies are then not stored for backward; the random draws
    are replayed identically because checkpointing preserves the RNG state).

    Args:
        perturbation: a module applied to each feature (e.g. :class:`FeatureNoisePerturbation`).
        decoder: a module taking ``List[Tensor]`` (the perturbed features) and returning logits.
    """

    def __init__(self, perturbation: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        if not isinstance(perturbation, nn.Module) or not isinstance(decoder, nn.Module):
            raise TypeError(
                "PerturbedDecoder: perturbation and decoder must be torch.nn.Module instances, got "
                f"{type(perturbation).__name__} and {type(decoder).__name__}."
            )
        self.perturbation = perturbation
        self.decoder = decoder

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        perturbed: List[torch.Tensor] = [self.perturbation(f) for f in features]
        return self.decoder(perturbed)
