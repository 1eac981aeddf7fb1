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
"""Strict parsing of on/off settings that come from configs and command lines.

``python -m monai.bundle run --resume false`` passes the *string* ``"false"`` (``fire`` only turns ``False`` into a
bool), and ``bool("false")`` is True: a plain ``bool()`` or ``if value:`` would resume when told not to. Every
config or CLI value that becomes a flag goes through :func:`parse_flag`, which accepts real booleans, 0 / 1 and the
usual words (via MONAI's ``str2bool``) and refuses anything else with the option named.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from monai.utils import str2bool

__all__ = ["parse_flag"]


def parse_flag(value: Any, name: str = "flag") -> bool:
    """A strict boolean from a config or CLI value.

    Accepted: ``True`` / ``False`` (also numpy booleans), the integers 0 and 1, and the strings ``true`` /
    ``false``, ``yes`` / ``no``, ``1`` / ``0`` (also ``t`` / ``f``, ``y`` / ``n``), case-insensitive, surrounding
    blanks ignored.

    Args:
        value: the value to parse.
        name: the option's name, for the error message.

    Raises:
        ValueError: for any other value (``None``, ``""``, ``2``, ``"maybe"``, a list, ...), quoting it.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return bool(int(value))
    if isinstance(value, str):
        try:
            return str2bool(value.strip(), raise_exc=True)
        except ValueError:
            pass
    raise ValueError(f"{name} must be true or false (also yes/no, 1/0), got {value!r}.")
