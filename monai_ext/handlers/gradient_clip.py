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
"""Gradient-norm clipping between a trainer's backward pass and its optimiser step (e.g. SABR-Net stage 2a, clip 5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from monai.engines.utils import IterationEvents
from monai.utils import IgniteInfo, min_version, optional_import

if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["USGradientClipHandler"]


class USGradientClipHandler:
    """Clip the total gradient norm on ``IterationEvents.BACKWARD_COMPLETED`` (``torch.nn.utils.clip_grad_norm_``).

    With a float16 gradient scaler (``engine.scaler``) the optimiser's gradients are unscaled first (the torch AMP
    recipe; the scaler's step then does not unscale them again). The norm before clipping is written to
    ``engine.state.output["grad_norm"]`` so it can be logged like a loss entry.

    Args:
        max_norm: the largest allowed total norm.
        parameters: the clipped parameters; default ``engine.network.parameters()`` at every call.
        norm_type: the p of the p-norm (2).
    """

    def __init__(
        self, max_norm: float, parameters: Iterable[torch.Tensor] | None = None, norm_type: float = 2.0
    ) -> None:
        if not float(max_norm) > 0:
            raise ValueError(f"USGradientClipHandler: max_norm must be > 0, got {max_norm!r}.")
        self.max_norm, self.norm_type = float(max_norm), float(norm_type)
        self.parameters = None if parameters is None else list(parameters)  # a generator would be spent after one call

    def attach(self, engine: Engine) -> None:
        """Run after every backward pass of ``engine``."""
        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        params = self.parameters if self.parameters is not None else list(engine.network.parameters())
        scaler = getattr(engine, "scaler", None)
        if scaler is not None:
            scaler.unscale_(engine.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(params, self.max_norm, norm_type=self.norm_type)
        if isinstance(engine.state.output, dict):
            engine.state.output["grad_norm"] = norm.detach()
