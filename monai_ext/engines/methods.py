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

The contract (what :class:`~monai_ext.engines.SemiSupervisedTrainer` calls, so a new method needs no trainer edit):

- ``method(network, x_l, y_l, x_u, weight, context) -> (pred_l, losses)``: `pred_l` is the main-head prediction
  (logits) on the labelled slice; `losses` must hold ``loss`` (total, differentiable) and may hold any other entries
  (``loss_sup``, ``loss_cons``, ``mask_ratio``, ...), every one of which the trainer copies, detached, into
  ``engine.state.output`` so handlers and MLflow can log it. `context` is a :class:`USIterationContext`: the
  iteration, the run length and epoch, the consistency weight and the whole labelled / unlabelled batches (targets
  computed in the data pipeline travel there), so iteration-dependent methods need no side channel and resume
  correctly (the iteration comes from the restored engine).
- optional ``attach(engine)``: called once by the trainer before the configured handlers, to register the method's
  own handlers (e.g. the EMA update of a teacher).
- optional ``state_dict()`` / ``load_state_dict()``: the method's own state (e.g. its teacher), which
  :class:`~monai_ext.handlers.ResumableCheckpointHandler` checkpoints with the trainer.

Methods hold no optimiser and never step: the trainer does.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn as nn

from monai_ext.utils.flags import parse_flag

__all__ = [
    "USIterationContext",
    "SSLMethod",
    "SupervisedOnlyMethod",
    "MeanTeacherMethod",
    "UncertaintyMeanTeacherMethod",
    "CrossConsistencyMethod",
    "make_ema_teacher",
    "unwrap_network",
    "probabilities",
    "run_network",
]


@dataclass(frozen=True)
class USIterationContext:
    """What a method may know about the iteration it computes.

    Attributes:
        iteration: the 1-based number of this iteration (``engine.state.iteration`` during it).
        max_iterations: the run length in iterations (None when the run is counted in epochs only).
        epoch: the 1-based epoch.
        epoch_length: iterations per epoch.
        consistency_weight: the weight the ramp-up handler set for this iteration.
        labeled_batch: the labelled batch as the loader gave it (extra keys such as SegFix targets included).
        unlabeled_batch: the unlabelled batch, or None.
        inferer: the trainer's inferer (a MONAI ``Inferer``); methods run the trained network through it
            (:func:`run_network`), so a sliding-window or other inferer configured as ``train#inferer`` applies.
    """

    iteration: int = 1
    max_iterations: int | None = None
    epoch: int = 1
    epoch_length: int | None = None
    consistency_weight: float = 0.0
    labeled_batch: Mapping[str, Any] = field(default_factory=dict)
    unlabeled_batch: Any = None
    inferer: Any = None

    @property
    def progress(self) -> float:
        """The share of the run done before this iteration, in [0, 1] (0 when the run length is unknown)."""
        if not self.max_iterations:
            return 0.0
        return min(max((self.iteration - 1) / self.max_iterations, 0.0), 1.0)


class SSLMethod(Protocol):
    """The interface the trainer calls (see the module docstring for the optional `attach` and `state_dict`)."""

    def __call__(
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
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
    """Softmax over channels (background + structures) or an independent sigmoid per structure channel, in float32
    (also under bfloat16 autocast: the consistency losses built on them compare probabilities that differ by 1e-2)."""
    if activation == "softmax":
        return torch.softmax(logits.float(), dim=1)
    if activation == "sigmoid":
        return torch.sigmoid(logits.float())
    raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")


def _check_activation(activation: str) -> str:
    if activation not in ("softmax", "sigmoid"):
        raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")
    return activation


def run_network(network: nn.Module, x: torch.Tensor, context: USIterationContext | None = None) -> Any:
    """``context.inferer(x, network)`` when the trainer gave an inferer, else ``network(x)``."""
    if context is not None and context.inferer is not None:
        return context.inferer(x, network)
    return network(x)


def _as_heads(output: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    # under bfloat16 autocast the heads come out in bfloat16; the losses sum over every pixel, so they run in float32
    heads = [output] if isinstance(output, torch.Tensor) else list(output)
    return [h.float() for h in heads]


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
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        heads = _as_heads(run_network(network, x_l, context))
        loss_sup = torch.stack([self.loss_function(h, y_l).mean() for h in heads]).mean()
        zero = loss_sup.new_zeros(())
        return heads[0], {"loss": loss_sup, "loss_sup": loss_sup, "loss_cons": zero}


class MeanTeacherMethod:
    """
    Mean Teacher (Tarvainen and Valpola, 2017) as in SSL4MIS: the student sees labelled + unlabelled images in one
    batch; the teacher (an EMA of the student) sees the unlabelled images plus clipped Gaussian noise, without
    gradients; the consistency loss is the MSE between student and teacher probabilities on the unlabelled images.

    The teacher runs in training mode, as in SSL4MIS (its dropout is active and its BatchNorm uses batch statistics
    and updates its own running statistics), so that its predictions are an independently perturbed view.

    The method owns its teacher: give the `student` (the trained network) and the teacher is a frozen copy of it;
    with `ema_decay`, :meth:`attach` registers the EMA update
    (:class:`~monai_ext.handlers.EMATeacherHandler`, SSL4MIS schedule) on the trainer, and :meth:`state_dict` carries
    the teacher into the resumable checkpoints. A bundle then names the teacher once, as ``$@method.teacher``.

    Args:
        loss_function: supervised loss on the labelled slice.
        teacher: an existing teacher network; default: :func:`make_ema_teacher` of `student`.
        activation: "softmax" (background + structures, SSL4MIS) or "sigmoid" (one channel per structure).
        noise_std: standard deviation of the Gaussian noise added to the teacher input (SSL4MIS: 0.1).
        noise_clip: the noise is clamped to [-noise_clip, noise_clip] (SSL4MIS: 0.2).
        student: the student network, to copy the teacher from when `teacher` is None.
        ema_decay: the EMA decay (SSL4MIS: 0.99); None: no update is attached (the caller updates the teacher).

    Raises:
        TypeError: neither a teacher nor a student network is given.
        ValueError: negative noise settings or a decay outside [0, 1).
    """

    def __init__(
        self,
        loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        teacher: nn.Module | None = None,
        activation: str = "softmax",
        noise_std: float = 0.1,
        noise_clip: float = 0.2,
        student: nn.Module | None = None,
        ema_decay: float | None = None,
    ) -> None:
        if teacher is None and isinstance(student, nn.Module):
            teacher = make_ema_teacher(student)
        if not isinstance(teacher, nn.Module):
            raise TypeError(
                f"give the teacher or the student network (a torch.nn.Module), got teacher={type(teacher).__name__} "
                f"and student={type(student).__name__}."
            )
        if noise_std < 0 or noise_clip < 0:
            raise ValueError(f"noise_std and noise_clip must be >= 0, got {noise_std} and {noise_clip}.")
        if ema_decay is not None and not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}.")
        self.loss_function = loss_function
        self.teacher = teacher
        self.activation = _check_activation(activation)
        self.noise_std = noise_std
        self.noise_clip = noise_clip
        self.ema_decay = None if ema_decay is None else float(ema_decay)

    def attach(self, engine: Any) -> None:
        """Register the teacher's EMA update (after every optimiser step), when `ema_decay` is set."""
        if self.ema_decay is None:
            return
        from monai_ext.handlers.ema_teacher import EMATeacherHandler  # handlers import engines: import here

        EMATeacherHandler(self.teacher, decay=self.ema_decay).attach(engine)

    def state_dict(self) -> dict[str, Any]:
        """The teacher's weights and buffers."""
        return {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.teacher.load_state_dict(state["teacher"])

    def _teacher_view(self, x_u: torch.Tensor) -> torch.Tensor:
        noise = torch.randn_like(x_u).mul_(self.noise_std).clamp_(-self.noise_clip, self.noise_clip)
        return x_u + noise

    def _student_step(
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        context: USIterationContext | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Student logits of the labelled (+ unlabelled) images in one forward pass, and the supervised loss."""
        x = x_l if x_u is None else torch.cat([x_l, x_u], dim=0)
        logits = _as_heads(run_network(network, x, context))[0]
        return logits, self.loss_function(logits[: x_l.shape[0]], y_l).mean()

    def _teacher_probabilities(self, x_u: torch.Tensor) -> torch.Tensor:
        """Teacher probabilities of one noisy view of the unlabelled images (training mode, no gradient)."""
        self.teacher.train()
        with torch.no_grad():
            return probabilities(_as_heads(self.teacher(self._teacher_view(x_u)))[0], self.activation)

    def __call__(
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n_l = x_l.shape[0]
        logits, loss_sup = self._student_step(network, x_l, y_l, x_u, context)
        if x_u is None:
            loss_cons = loss_sup.new_zeros(())
        else:
            teacher_prob = self._teacher_probabilities(x_u)
            student_prob = probabilities(logits[n_l:], self.activation)
            loss_cons = torch.mean((student_prob - teacher_prob) ** 2)
        loss = loss_sup + weight * loss_cons
        return logits[:n_l], {"loss": loss, "loss_sup": loss_sup, "loss_cons": loss_cons}


def sigmoid_rampup(step: float, length: float) -> float:
    """``exp(-5 (1 - t)^2)`` with ``t = clip(step / length, 0, 1)`` (Laine and Aila; SSL4MIS ``ramps.sigmoid_rampup``)."""
    if length <= 0:
        return 1.0
    t = min(max(step / length, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


class UncertaintyMeanTeacherMethod(MeanTeacherMethod):
    """
    Uncertainty-aware Mean Teacher (UA-MT; Yu et al., MICCAI 2019) as in SSL4MIS's 2D script: Mean Teacher whose
    consistency is restricted to the pixels where the teacher is certain.

    The teacher's uncertainty is the entropy of its mean softmax over `mc_samples` (T = 8) passes of the unlabelled
    images, each with its own clipped Gaussian noise; pixels count while the entropy is below the threshold
    ``(0.75 + 0.25 * sigmoid_rampup(iteration, max_iterations)) * ln 2``, which rises over the run; the consistency
    loss is the masked MSE between student and teacher softmax, ``sum(mask * mse) / (2 * sum(mask) + 1e-16)``, the
    teacher's prediction being one further noisy pass. The share of unlabelled pixels kept is returned as
    ``mask_ratio`` (logged like any loss entry) and the threshold as ``uncertainty_threshold``.

    The iteration comes from the trainer's :class:`USIterationContext` (0-based, as SSL4MIS's ``iter_num``), so a
    resumed run continues the threshold schedule where it stopped. Without a context (direct calls) the threshold is
    that of the first iteration.

    Args:
        loss_function: supervised loss on the labelled slice.
        teacher: an existing teacher network; default: a frozen copy of `student`.
        mc_samples: teacher passes for the uncertainty (SSL4MIS: 8); must be even (SSL4MIS runs them in pairs).
        noise_std: noise of each teacher pass (SSL4MIS: 0.1).
        noise_clip: noise clamp (SSL4MIS: 0.2).
        student: the student network, to copy the teacher from when `teacher` is None.
        ema_decay: the EMA decay (SSL4MIS: 0.99); None: no update is attached.

    Raises:
        ValueError: `mc_samples` not a positive even int.
    """

    def __init__(
        self,
        loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        teacher: nn.Module | None = None,
        mc_samples: int = 8,
        noise_std: float = 0.1,
        noise_clip: float = 0.2,
        student: nn.Module | None = None,
        ema_decay: float | None = None,
    ) -> None:
        super().__init__(loss_function, teacher, "softmax", noise_std, noise_clip, student, ema_decay)
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, int) or mc_samples < 2 or mc_samples % 2:
            raise ValueError(f"mc_samples must be a positive even int (passes are made in pairs), got {mc_samples!r}.")
        self.mc_samples = mc_samples

    def threshold(self, context: USIterationContext | None) -> float:
        """The entropy threshold (nats) at this iteration."""
        if context is None or not context.max_iterations:
            return 0.75 * math.log(2.0)
        return (0.75 + 0.25 * sigmoid_rampup(context.iteration - 1, context.max_iterations)) * math.log(2.0)

    @torch.no_grad()
    def uncertainty(self, x_u: torch.Tensor) -> torch.Tensor:
        """Entropy (B, 1, ...) of the teacher's mean softmax over `mc_samples` noisy passes."""
        self.teacher.train()
        pair = torch.cat([x_u, x_u], dim=0)
        mean_prob = None
        for _ in range(self.mc_samples // 2):
            prob = torch.softmax(_as_heads(self.teacher(self._teacher_view(pair)))[0], dim=1)
            prob = prob[: x_u.shape[0]] + prob[x_u.shape[0]:]
            mean_prob = prob if mean_prob is None else mean_prob + prob
        mean_prob = mean_prob / self.mc_samples
        return -torch.sum(mean_prob * torch.log(mean_prob + 1e-6), dim=1, keepdim=True)

    def __call__(
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n_l = x_l.shape[0]
        logits, loss_sup = self._student_step(network, x_l, y_l, x_u, context)
        zero = loss_sup.new_zeros(())
        if x_u is None:
            return logits[:n_l], {"loss": loss_sup, "loss_sup": loss_sup, "loss_cons": zero, "mask_ratio": zero}
        teacher_prob = self._teacher_probabilities(x_u)  # softmax: UA-MT fixes the activation
        entropy = self.uncertainty(x_u)
        threshold = self.threshold(context)
        mask = (entropy < threshold).float()
        dist = (torch.softmax(logits[n_l:], dim=1) - teacher_prob) ** 2
        loss_cons = torch.sum(mask * dist) / (2.0 * torch.sum(mask) + 1e-16)
        loss = loss_sup + weight * loss_cons
        return logits[:n_l], {
            "loss": loss, "loss_sup": loss_sup, "loss_cons": loss_cons, "mask_ratio": mask.mean(),
            "uncertainty_threshold": loss_sup.new_tensor(threshold),
        }


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
        self,
        network: nn.Module,
        x_l: torch.Tensor,
        y_l: torch.Tensor,
        x_u: torch.Tensor | None,
        weight: float,
        context: USIterationContext | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n_l = x_l.shape[0]
        x = x_l if x_u is None else torch.cat([x_l, x_u], dim=0)
        heads = _as_heads(run_network(network, x, context))
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
