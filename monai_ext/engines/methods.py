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
"""Method objects of the semi-supervised trainer: how one iteration's forward pass(es) and losses are computed.

A method is a callable `method(network, x_l, y_l, x_u, weight) -> (pred_l, losses)` where `pred_l` is the
main-head prediction (logits) on the labelled slice and `losses` holds `loss` (total, differentiable),
`loss_sup` and `loss_cons`. Methods hold no optimiser and never step: the trainer does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
import torch.nn as nn

from monai_ext.utils.flags import parse_flag

__all__ = [
    "SSLMethod",
    "SupervisedOnlyMethod",
    "MeanTeacherMethod",
    "CrossConsistencyMethod",
    "make_ema_teacher",
    "unwrap_network",
    "probabilities",
]


class SSLMethod(Protocol):
    """The interface the trainer calls."""

    def __call__(
        self, network: nn.Module, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor | None, weight: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


def unwrap_network(network: nn.Module) -> nn.Module:
    """The module inside `DistributedDataParallel`/`DataParallel`, else the network itself."""
    return network.module if hasattr(network, "module") and isinstance(network.module, nn.Module) else network


def make_ema_teacher(network: nn.Module) -> nn.Module:
    """A frozen deep copy of the student (unwrapped from DDP) to serve as the EMA teacher."""
    teacher = copy.deepcopy(unwrap_network(network))
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """Softmax over channels (background + structures) or an independent sigmoid per structure channel."""
    if activation == "softmax":
        return torch.softmax(logits, dim=1)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")


def _check_activation(activation: str) -> str:
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")
    return activation


def _as_heads(output: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [output] if isinstance(output, torch.Tensor) else list(output)


class SupervisedOnlyMethod:
    """
    Supervised loss on the labelled batch only; the unlabelled batch (if any) is ignored. Used for the lower bound
    (labelled subset) and the upper bound (all training items labelled).

    Args:
        loss_function: supervised loss `loss(logits, target)` (e.g. `monai.losses.DiceCELoss`).
    """

    def __init__(self, loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.loss_function = loss_function

    def __call__(
        self, network: nn.Module, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor | None, weight: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        heads = _as_heads(network(x_l))
        loss_sup = torch.stack([self.loss_function(h, y_l).mean() for h in heads]).mean()
        zero = loss_sup.new_zeros(())
        return heads[0], {"loss": loss_sup, "loss_sup": loss_sup, "loss_cons": zero}


class MeanTeacherMethod:
    """
    Mean Teacher (Tarvainen and Valpola, 2017) as in SSL4MIS: the student sees labelled + unlabelled images in one
    batch; the teacher (an EMA of the student, updated by :class:`monai_ext.handlers.EMATeacherHandler`) sees the
    unlabelled images plus clipped Gaussian noise, without gradients; the consistency loss is the MSE between
    student and teacher probabilities on the unlabelled images.

    The teacher runs in training mode, as in SSL4MIS (its dropout is active and its BatchNorm uses batch statistics
    and updates its own running statistics), so that its predictions are an independently perturbed view.

    Args:
        loss_function: supervised loss on the labelled slice.
        teacher: the EMA teacher network (see :func:`make_ema_teacher`).
        activation: "softmax" (background + structures, SSL4MIS) or "sigmoid" (one channel per structure).
        noise_std: standard deviation of the Gaussian noise added to the teacher input (SSL4MIS: 0.1).
        noise_clip: the noise is clamped to [-noise_clip, noise_clip] (SSL4MIS: 0.2).
    """

    def __init__(
        self,
        loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        teacher: nn.Module,
        activation: str = "softmax",
        noise_std: float = 0.1,
        noise_clip: float = 0.2,
    ) -> None:
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}.")
        if noise_std < 0 or noise_clip < 0:
            raise ValueError(f"noise_std and noise_clip must be >= 0, got {noise_std} and {noise_clip}.")
        self.loss_function = loss_function
        self.teacher = teacher
        self.activation = _check_activation(activation)
        self.noise_std = noise_std
        self.noise_clip = noise_clip

    def __call__(
        self, network: nn.Module, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor | None, weight: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n_l = x_l.shape[0]
        x = x_l if x_u is None else torch.cat([x_l, x_u], dim=0)
        logits = _as_heads(network(x))[0]
        loss_sup = self.loss_function(logits[:n_l], y_l).mean()
        if x_u is None:
            loss_cons = loss_sup.new_zeros(())
        else:
            noise = torch.randn_like(x_u).mul_(self.noise_std).clamp_(-self.noise_clip, self.noise_clip)
            self.teacher.train()
            with torch.no_grad():
                teacher_prob = probabilities(_as_heads(self.teacher(x_u + noise))[0], self.activation)
            student_prob = probabilities(logits[n_l:], self.activation)
            loss_cons = torch.mean((student_prob - teacher_prob) ** 2)
        loss = loss_sup + weight * loss_cons
        return logits[:n_l], {"loss": loss, "loss_sup": loss_sup, "loss_cons": loss_cons}


class CrossConsistencyMethod:
    """
    Multi-decoder cross-consistency, shared by CCT (Ouali et al., 2020; SSL4MIS `UNet_CCT`), MGCC and MSMO.

    The network, in training mode, returns `(main, aux_1, ..., aux_k)` logits for the concatenated labelled and
    unlabelled batch (one forward pass, so that BatchNorm sees the mixed batch as in the public code). The
    supervised loss is averaged over all heads on the labelled slice; the consistency loss is the mean over
    auxiliary heads of the MSE between the main head's and the auxiliary head's probabilities on the unlabelled
    slice.

    Args:
        loss_function: supervised loss on the labelled slice, applied to every head.
        activation: "softmax" (SSL4MIS CCT) or "sigmoid" (MGCC, MSMO: one channel per structure).
        detach_main: stop gradients through the main head in the consistency term (the public codes do not).
        supervise_aux: apply the supervised loss to the auxiliary heads too (the public codes do).
    """

    def __init__(
        self,
        loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        activation: str = "softmax",
        detach_main: bool = False,
        supervise_aux: bool = True,
    ) -> None:
        self.loss_function = loss_function
        self.activation = _check_activation(activation)
        self.detach_main = parse_flag(detach_main, "detach_main")
        self.supervise_aux = supervise_aux

    def __call__(
        self, network: nn.Module, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor | None, weight: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n_l = x_l.shape[0]
        x = x_l if x_u is None else torch.cat([x_l, x_u], dim=0)
        heads = _as_heads(network(x))
        if len(heads) < 2:
            raise ValueError("CrossConsistencyMethod needs a network returning (main, aux_1, ...) in training mode.")
        supervised = heads if self.supervise_aux else heads[:1]
        loss_sup = torch.stack([self.loss_function(h[:n_l], y_l).mean() for h in supervised]).mean()
        if x_u is None:
            loss_cons = loss_sup.new_zeros(())
        else:
            main = probabilities(heads[0][n_l:], self.activation)
            if self.detach_main:
                main = main.detach()
            loss_cons = torch.stack(
                [torch.mean((main - probabilities(h[n_l:], self.activation)) ** 2) for h in heads[1:]]
            ).mean()
        loss = loss_sup + weight * loss_cons
        return heads[0][:n_l], {"loss": loss, "loss_sup": loss_sup, "loss_cons": loss_cons}
