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
"""Cosine-annealing learning rate of the MSMO recipe (docs/methods/msmo.md, "Training protocol"), per epoch or as the
public code's periodic variant.

Both schedules are ``torch.optim.lr_scheduler.CosineAnnealingLR`` stepped by MONAI's ``LrScheduleHandler`` on an
Ignite event; the two differ only in ``T_max`` and in the event:

- ``"cosine_epoch"`` (the project default): ``T_max`` = the number of epochs, one step at every ``EPOCH_COMPLETED``.
  An epoch is one pass over the labelled loader (``len(labelled) // labeled_batch_size`` iterations, the public
  two-stream sampler's epoch). Epoch ``e`` (0-based) runs with
  ``eta_min + (lr0 - eta_min) * (1 + cos(pi * e / T_max)) / 2``.
- ``"cosine_iter_t300"`` (compatibility switch, docs/methods/msmo.md, "Public-code bugs not reproduced", item 3):
  ``T_max = 300`` stepped at every ``ITERATION_COMPLETED``, as the public ``train.py``; the learning rate then
  oscillates between ``lr0`` and ``eta_min`` with a period of 600 iterations (iteration 0: 0.01, 150: 0.005, 300: 1e-5,
  600: 0.01).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from monai.handlers import LrScheduleHandler
from monai.utils import IgniteInfo, min_version, optional_import
from torch.optim.lr_scheduler import CosineAnnealingLR

if TYPE_CHECKING:
    from ignite.engine import Engine, Events
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")
    Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")

__all__ = ["COSINE_SCHEDULES", "cosine_lr_scheduler", "CosineLRHandler"]

COSINE_SCHEDULES = ("cosine_epoch", "cosine_iter_t300")


def _check_schedule(schedule: str) -> str:
    if schedule not in COSINE_SCHEDULES:
        raise ValueError(f"schedule must be one of {COSINE_SCHEDULES}, got {schedule!r}.")
    return schedule


def cosine_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str = "cosine_epoch",
    epochs: int = 300,
    eta_min: float = 1e-5,
    iteration_t_max: int = 300,
) -> CosineAnnealingLR:
    """``CosineAnnealingLR`` for one of :data:`COSINE_SCHEDULES`; step it with :class:`CosineLRHandler`.

    Args:
        optimizer: the optimizer (its current learning rate is the starting value, 0.01 in MSMO).
        schedule: ``"cosine_epoch"`` (``T_max = epochs``) or ``"cosine_iter_t300"`` (``T_max = iteration_t_max``,
            stepped per iteration).
        epochs: number of training epochs (the trainer's ``max_epochs``) for ``"cosine_epoch"``.
        eta_min: the minimum learning rate (1e-5 in MSMO).
        iteration_t_max: half-period in iterations of ``"cosine_iter_t300"`` (300 in the public code).

    Raises:
        ValueError: unknown schedule, non-positive ``epochs`` / ``iteration_t_max``, negative ``eta_min``.
    """
    _check_schedule(schedule)
    for name, value in (("epochs", epochs), ("iteration_t_max", iteration_t_max)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"cosine_lr_scheduler: {name} must be a positive int, got {value!r}.")
    if eta_min < 0:
        raise ValueError(f"cosine_lr_scheduler: eta_min must be >= 0, got {eta_min!r}.")
    t_max = epochs if schedule == "cosine_epoch" else iteration_t_max
    return CosineAnnealingLR(optimizer, T_max=t_max, eta_min=float(eta_min))


class CosineLRHandler(LrScheduleHandler):
    """MONAI ``LrScheduleHandler`` stepping a cosine scheduler per epoch or per iteration by schedule name.

    ``"cosine_epoch"`` steps at ``EPOCH_COMPLETED`` and, when the run starts, warns if the scheduler's ``T_max`` differs
    from the trainer's ``max_epochs`` (the learning rate would then not end at ``eta_min`` or would rise again);
    ``"cosine_iter_t300"`` steps at ``ITERATION_COMPLETED``. The scheduler's state is the checkpointed state: resume by
    saving ``lr_scheduler`` with the other training objects (``ResumableCheckpointHandler``).

    Args:
        lr_scheduler: the scheduler, normally from :func:`cosine_lr_scheduler`.
        schedule: ``"cosine_epoch"`` or ``"cosine_iter_t300"``.
        print_lr: log the learning rate after every step.
        name: logger name (default: the engine's logger).
    """

    def __init__(
        self,
        lr_scheduler: CosineAnnealingLR,
        schedule: str = "cosine_epoch",
        print_lr: bool = False,
        name: str | None = None,
    ) -> None:
        if not isinstance(lr_scheduler, CosineAnnealingLR):
            raise TypeError(
                f"CosineLRHandler: lr_scheduler must be a torch CosineAnnealingLR, got {type(lr_scheduler).__name__}."
            )
        self.schedule = _check_schedule(schedule)
        super().__init__(lr_scheduler, print_lr=print_lr, name=name, epoch_level=schedule == "cosine_epoch")

    def attach(self, engine: Engine) -> None:
        """Step the scheduler on the schedule's event; in epoch mode, check ``T_max`` when the run starts."""
        super().attach(engine)
        if self.epoch_level:
            engine.add_event_handler(Events.STARTED, self._check_t_max)

    def _check_t_max(self, engine: Engine) -> None:
        t_max, max_epochs = self.lr_scheduler.T_max, engine.state.max_epochs  # type: ignore[union-attr]
        if t_max != max_epochs:
            self.logger.warning(
                f"CosineLRHandler: the per-epoch cosine has T_max={t_max} but the run has max_epochs={max_epochs}; "
                "the learning rate will not follow one half cosine over the run."
            )
