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

"""monai_ext.study: the comparison study of ``docs/study.md`` (``python -m monai_ext study``) and the nnU-Net
export / import (``python -m monai_ext export-nnunet``).

Importing the package is light (no torch, MONAI or matplotlib); the modules import those when they run.
"""

from __future__ import annotations

from .cells import METHOD_BUNDLES, PRESETS, VARIANTS, StudyCell, resolve_method, run_cell, run_name
from .executors import EXECUTORS, iter_cells
from .runner import StudyOptions, StudyProgress, build_cells, prepare_study_data, run_study
from .statistics import PairedTest, mean_std, paired_wilcoxon, rank_biserial, spearman

__all__ = [
    "EXECUTORS",
    "METHOD_BUNDLES",
    "PRESETS",
    "PairedTest",
    "StudyCell",
    "StudyOptions",
    "StudyProgress",
    "VARIANTS",
    "build_cells",
    "iter_cells",
    "mean_std",
    "paired_wilcoxon",
    "prepare_study_data",
    "rank_biserial",
    "resolve_method",
    "run_cell",
    "run_name",
    "run_study",
    "spearman",
]
