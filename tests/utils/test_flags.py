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
"""Tests of monai_ext.utils.flags: config and CLI values become flags strictly ("false" is False, "maybe" fails)."""

from __future__ import annotations

import numpy as np
import pytest

from monai_ext.utils import parse_flag


@pytest.mark.parametrize(
    "value,expected",
    [(True, True), (False, False), (np.bool_(True), True), (1, True), (0, False),
     ("true", True), ("False", False), ("FALSE", False), (" yes ", True), ("No", False), ("1", True), ("0", False)],
)
def test_accepted_values(value, expected):
    assert parse_flag(value, "resume") is expected


@pytest.mark.parametrize("value", ["maybe", "", "  ", "2", 2, -1, 0.5, None, [], ["true"], "none"])
def test_anything_else_is_refused_with_the_option_and_value_named(value):
    with pytest.raises(ValueError, match=rf"resume must be true or false .*got {__import__('re').escape(repr(value))}"):
        parse_flag(value, "resume")
