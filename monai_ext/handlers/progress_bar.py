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
"""A progress bar for trainers and evaluators that only appears on a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from monai.utils import IgniteInfo, min_version, optional_import

ProgressBar, _ = optional_import("ignite.handlers", IgniteInfo.OPT_IMPORT_VERSION, min_version, "ProgressBar")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["TerminalProgressBar"]


class TerminalProgressBar:
    """
    Attach Ignite's `ProgressBar` (tqdm) to an engine when standard error is a terminal, and nothing otherwise,
    so that logs of batch jobs and CI stay free of carriage-return noise.

    Args:
        tag: a label shown before the bar ("train", "validate", "infer").
        force: attach even when standard error is not a terminal.
    """

    def __init__(self, tag: str = "", force: bool = False) -> None:
        self.tag = tag
        self.force = force
        self.bar = None

    def attach(self, engine: Engine) -> None:
        """Attach the bar (on a terminal only); the loss is shown for training engines."""
        if not (self.force or sys.stderr.isatty()):
            return
        self.bar = ProgressBar(desc=self.tag, persist=False)
        self.bar.attach(engine, output_transform=self._loss)

    @staticmethod
    def _loss(output: object) -> dict:
        if isinstance(output, list) and output and isinstance(output[0], dict) and "loss" in output[0]:
            return {"loss": float(output[0]["loss"])}
        if isinstance(output, dict) and "loss" in output:
            return {"loss": float(output["loss"])}
        return {}
