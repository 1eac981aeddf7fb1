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
"""What the phantom simulates: its tasks, label tables and version, and the argument checks of its entry points.

The three tasks imitate public ultrasound segmentation datasets: ``"breast"`` is BUSI-like (one lesion per image,
about 15 % normal images with empty masks), ``"cardiac"`` is CAMUS-like (apical two- and four-chamber views, LV
cavity, myocardium and left atrium) and ``"thyroid"`` is TN-SCUI-like (one nodule per transverse view). The label
tables are the ``labels`` table of every written ``dataset.json`` (the project's data contract).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "PHANTOM_TASKS",
    "PHANTOM_LABELS",
    "PHANTOM_GROUP_REGEX",
    "PHANTOM_VERSION",
    "PHANTOM_MIN_SIZE",
    "check_phantom_task",
    "check_phantom_size",
    "task_labels",
]

PHANTOM_TASKS: tuple[str, ...] = ("breast", "cardiac", "thyroid")
"""Tasks the phantom simulates."""

PHANTOM_LABELS: dict[str, dict[str, list[int]]] = {
    "breast": {"lesion": [255]},
    "cardiac": {"lv": [1], "myocardium": [2], "la": [3]},
    "thyroid": {"nodule": [255]},
}
"""Task -> {structure name: mask gray values}, in label order (the ``labels`` table of dataset.json)."""

PHANTOM_GROUP_REGEX = r"^(p\d+)_"
"""Regex whose first group is the patient id of a phantom image id."""

PHANTOM_VERSION = 1
"""Version of the simulation; part of the identity of a written dataset (a change invalidates reuse)."""

PHANTOM_MIN_SIZE = 32
"""Smallest image height and width (pixels) the phantom renders."""


def task_labels(task: str) -> dict[str, list[int]]:
    """The label table of a phantom task (a copy of its :data:`PHANTOM_LABELS` entry): structure -> mask gray values.

    The bundles' ``labels`` come from here (``"$monai_ext.data.task_labels(@task)"``); for a dataset whose masks use
    other gray values, override ``labels`` itself (``--labels "{'lv': [1], 'la': [3]}"``).

    Raises:
        ValueError: ``task`` is not one of :data:`PHANTOM_TASKS`.
    """
    if not isinstance(task, str) or task not in PHANTOM_LABELS:
        raise ValueError(
            f"unknown task {task!r}: the built-in label tables are {', '.join(PHANTOM_TASKS)}; for masks of another "
            "task give their table with --labels, e.g. --labels \"{'lesion': [255]}\"."
        )
    return {name: list(values) for name, values in PHANTOM_LABELS[task].items()}


def check_phantom_task(task: Any) -> None:
    """Raise a ValueError naming the choices unless ``task`` is one of :data:`PHANTOM_TASKS`."""
    if task not in PHANTOM_TASKS:
        raise ValueError(f"unknown phantom task {task!r}; choose one of {', '.join(PHANTOM_TASKS)}.")


def check_phantom_size(size: Any) -> None:
    """Raise unless ``size`` is an integer of at least :data:`PHANTOM_MIN_SIZE` pixels.

    Raises:
        TypeError: ``size`` is not an integer (a bool is refused too).
        ValueError: ``size`` is below :data:`PHANTOM_MIN_SIZE`.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"phantom size must be an integer, got {type(size).__name__}.")
    if size < PHANTOM_MIN_SIZE:
        raise ValueError(f"phantom size must be at least {PHANTOM_MIN_SIZE} pixels, got {size}.")
