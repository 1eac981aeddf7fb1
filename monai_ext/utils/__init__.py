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
"""monai_ext.utils: strict flags, readable input errors, atomic outputs, JSON object files, process memory."""

from __future__ import annotations

from .atomic import StagedOutputs, atomic_output, temporary_sibling
from .errors import USInputError, find_input_error, input_error_lines, install_input_error_hook
from .flags import parse_flag
from .json_files import read_json_object
from .meta import meta_scalar
from .process_memory import process_status_mb, reset_peak_rss

__all__ = [
    "StagedOutputs",
    "USInputError",
    "atomic_output",
    "find_input_error",
    "input_error_lines",
    "install_input_error_hook",
    "meta_scalar",
    "parse_flag",
    "process_status_mb",
    "read_json_object",
    "reset_peak_rss",
    "temporary_sibling",
]
