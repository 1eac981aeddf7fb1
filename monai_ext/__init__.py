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

"""monai_ext: semi-supervised ultrasound image segmentation on MONAI.

Importing the package loads every subpackage so that bundle configs can name any component with a dotted
`_target_` (and so that MONAI's short-name locator, which scans modules whose name starts with "monai",
sees them too).

Importing it also installs :func:`monai_ext.utils.install_input_error_hook`: when a run (e.g. ``python -m
monai.bundle run``) stops on one of our input errors buried in a chained traceback, its message (the file and the
problem) is repeated as the last lines of the output.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import utils  # first: the other subpackages use its errors and flags

utils.install_input_error_hook()

from . import (  # noqa: E402 - after the hook, so that import-time errors are covered too
    data,
    engines,
    generative,
    handlers,
    inference,
    io,
    losses,
    metrics,
    networks,
    services,
    transforms,
)

__all__ = [
    "__version__",
    "data",
    "engines",
    "generative",
    "handlers",
    "inference",
    "io",
    "losses",
    "metrics",
    "networks",
    "services",
    "transforms",
    "utils",
]
