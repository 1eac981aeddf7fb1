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
"""Learning-rate schedules of the semi-supervised recipes."""

from __future__ import annotations

__all__ = ["PolyLRLambda"]


class PolyLRLambda:
    """
    Poly decay `(1 - t / max_iterations) ** power` for `torch.optim.lr_scheduler.LambdaLR`, stepped per iteration.

    SSL4MIS and MGCC set the learning rate *after* the optimiser step, so iteration t runs with the value computed
    at t - 1: the factor for scheduler step k is `(1 - max(k - 1, 0) / max_iterations) ** power`. It is clamped
    at 0 so that a scheduler stepped at or past `max_iterations` stays at 0 instead of raising a complex power
    (the public MGCC code crashes there).

    Args:
        max_iterations: the iteration count at which the factor reaches 0.
        power: the poly exponent (0.9 in SSL4MIS/MGCC).
    """

    def __init__(self, max_iterations: int, power: float = 0.9) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be a positive integer, got {max_iterations}.")
        self.max_iterations = int(max_iterations)
        self.power = float(power)

    def __call__(self, step: int) -> float:
        remaining = 1.0 - max(step - 1, 0) / self.max_iterations
        return max(remaining, 0.0) ** self.power
