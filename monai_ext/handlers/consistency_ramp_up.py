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
"""Consistency-weight ramp-up for semi-supervised training."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from monai.utils import IgniteInfo, min_version, optional_import

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["ConsistencyRampUpHandler", "consistency_ramp_weight"]


def consistency_ramp_weight(
    iteration: int, max_weight: float, ramp_length: int, step_size: int = 1, mode: str = "sigmoid", delay: int = 0
) -> float:
    """
    The consistency weight at 0-based iteration `iteration`.

    With `s = min(iteration // step_size, ramp_length)`: "sigmoid" gives `max_weight * exp(-5 (1 - s/L)^2)`
    (Laine and Aila's ramp, as in SSL4MIS/MGCC/MSMO), "linear" gives `max_weight * s/L`; "constant" gives
    `max_weight`. Iterations before `delay` get 0 (SSL4MIS Mean Teacher's "no consistency before 1000").

    Args:
        iteration: 0-based iteration.
        max_weight: weight at the end of the ramp.
        ramp_length: ramp length L in steps of `step_size` iterations (0: no ramp).
        step_size: iterations per ramp step (SSL4MIS/MGCC/MSMO: 150).
        mode: "sigmoid", "linear" or "constant".
        delay: iterations with weight 0 before the ramp applies.
    """
    if iteration < delay:
        return 0.0
    if mode == "constant" or ramp_length == 0:
        return float(max_weight)
    s = min(iteration // step_size, ramp_length)
    if mode == "sigmoid":
        return float(max_weight * math.exp(-5.0 * (1.0 - s / ramp_length) ** 2))
    if mode == "linear":
        return float(max_weight * s / ramp_length)
    raise ValueError(f"mode must be 'sigmoid', 'linear' or 'constant', got {mode!r}.")


class ConsistencyRampUpHandler:
    """
    Set the trainer's consistency weight at the start of every iteration from the 0-based iteration number, so a
    resumed run (whose iteration is restored from its checkpoint) continues with the same weight.

    The value is written to `engine.<attr>` (read by :class:`monai_ext.engines.SemiSupervisedTrainer`) and to
    `engine.state.<attr>`, where `MLFlowHandler(state_attributes=[...])` and `StatsHandler` can log it.

    Args:
        max_weight: weight at the end of the ramp (SSL4MIS Mean Teacher 0.1, MGCC/MSMO 7).
        ramp_length: ramp length in steps (SSL4MIS/MGCC/MSMO: 200).
        step_size: iterations per step (SSL4MIS/MGCC/MSMO: 150).
        mode: "sigmoid", "linear" or "constant".
        delay: iterations with weight 0 first (SSL4MIS Mean Teacher legacy schedule: 1000).
        attr: attribute name on the engine and its state.
    """

    def __init__(
        self,
        max_weight: float,
        ramp_length: int,
        step_size: int = 1,
        mode: str = "sigmoid",
        delay: int = 0,
        attr: str = "consistency_weight",
    ) -> None:
        if max_weight < 0:
            raise ValueError(f"max_weight must be >= 0, got {max_weight}.")
        if ramp_length < 0 or step_size < 1 or delay < 0:
            raise ValueError(
                f"need ramp_length >= 0, step_size >= 1 and delay >= 0, got {ramp_length}, {step_size}, {delay}."
            )
        if mode not in ("sigmoid", "linear", "constant"):
            raise ValueError(f"mode must be 'sigmoid', 'linear' or 'constant', got {mode!r}.")
        self.max_weight = float(max_weight)
        self.ramp_length = int(ramp_length)
        self.step_size = int(step_size)
        self.mode = mode
        self.delay = int(delay)
        self.attr = attr

    def attach(self, engine: Engine) -> None:
        """Register the handler on ITERATION_STARTED of `engine`."""
        engine.add_event_handler(Events.ITERATION_STARTED, self)

    def weight(self, iteration: int) -> float:
        """The weight at 0-based `iteration`."""
        return consistency_ramp_weight(
            iteration, self.max_weight, self.ramp_length, self.step_size, self.mode, self.delay
        )

    def __call__(self, engine: Engine) -> None:
        """Compute and set the weight for the iteration that is starting."""
        value = self.weight(engine.state.iteration - 1)
        setattr(engine, self.attr, value)
        setattr(engine.state, self.attr, value)
