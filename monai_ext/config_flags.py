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
"""Strict parsing of on/off settings from configs and command lines.

``python -m monai.bundle run ... --resume false`` hands the config the *string* ``"false"`` (Python Fire keeps
lower-case words as text), and ``bool("false")`` is True. Every place where a config or CLI value becomes a flag goes
through :func:`as_flag`, which accepts real booleans and the usual spellings and refuses anything else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_flag"]

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def as_flag(value: Any, name: str = "flag") -> bool:
    """``value`` as a bool: True/False, 0/1, or (any case) true/false, yes/no, on/off, 1/0.

    Args:
        value: the setting's value.
        name: the setting's name, for the error message.

    Raises:
        ValueError: any other value (None, 2, "maybe", a list, ...), quoting it.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"{name} must be true or false, got {value!r}; write e.g. --{name} true or --{name} false.")
