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
"""Exponential-moving-average teacher update (Mean Teacher)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn
from monai.utils import IgniteInfo, min_version, optional_import

from monai_ext.engines.methods import unwrap_network

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["EMATeacherHandler"]


class EMATeacherHandler:
    """
    After every optimiser step, move the teacher's parameters towards the student's:
    `teacher <- a * teacher + (1 - a) * student` with SSL4MIS's warm-up `a = min(1 - 1/(step + 1), decay)`,
    `step` being the 0-based global iteration. Only parameters are averaged, as in SSL4MIS: the teacher's
    BatchNorm statistics come from its own forward passes. Under DDP the student is read from `network.module`.

    (`ignite.handlers.EMAHandler` takes `momentum = 1 - decay` and warms the momentum up differently; this
    handler keeps the SSL4MIS schedule so that baseline numbers compare with SSL4MIS-based papers.)

    Args:
        teacher: the teacher network (a frozen copy of the student, see `monai_ext.engines.make_ema_teacher`).
        decay: the EMA decay reached after the warm-up (SSL4MIS: 0.99).
        student: the student; default: the engine's `network`.
    """

    def __init__(self, teacher: nn.Module, decay: float = 0.99, student: nn.Module | None = None) -> None:
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}.")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}.")
        self.teacher = teacher
        self.decay = float(decay)
        self.student = student

    def attach(self, engine: Engine) -> None:
        """Register the update on ITERATION_COMPLETED of `engine`."""
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def alpha(self, step: int) -> float:
        """The averaging coefficient at 0-based `step`."""
        return min(1.0 - 1.0 / (step + 1), self.decay)

    @torch.no_grad()
    def __call__(self, engine: Engine) -> None:
        """Update the teacher from the student after the iteration's optimiser step."""
        student = unwrap_network(self.student if self.student is not None else engine.network)
        a = self.alpha(engine.state.iteration - 1)
        engine.state.ema_alpha = a
        for t, s in zip(self.teacher.parameters(), student.parameters()):
            t.mul_(a).add_(s.detach(), alpha=1.0 - a)
