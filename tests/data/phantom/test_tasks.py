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
"""Tests of monai_ext.data.phantom.tasks: task and label tables, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from monai_ext.data.phantom import PHANTOM_GROUP_REGEX, PHANTOM_LABELS, PHANTOM_TASKS
from monai_ext.data.phantom.tasks import PHANTOM_MIN_SIZE, check_phantom_size, check_phantom_task, task_labels


def test_public_tables():
    assert PHANTOM_TASKS == ("breast", "cardiac", "thyroid")
    assert PHANTOM_LABELS == {
        "breast": {"lesion": [255]},
        "cardiac": {"lv": [1], "myocardium": [2], "la": [3]},
        "thyroid": {"nodule": [255]},
    }
    assert PHANTOM_GROUP_REGEX == r"^(p\d+)_"


def test_argument_checks_quote_the_bad_value():
    for task in PHANTOM_TASKS:
        check_phantom_task(task)
    with pytest.raises(ValueError, match=r"unknown phantom task 'liver'; choose one of breast, cardiac, thyroid"):
        check_phantom_task("liver")
    check_phantom_size(PHANTOM_MIN_SIZE)
    check_phantom_size(np.int64(64))
    with pytest.raises(ValueError, match="at least 32 pixels, got 31"):
        check_phantom_size(31)
    with pytest.raises(TypeError, match="integer, got float"):
        check_phantom_size(64.0)
    with pytest.raises(TypeError, match="integer, got bool"):
        check_phantom_size(True)


def test_task_labels_is_a_copy_of_the_table_in_label_order():
    assert task_labels("cardiac") == {"lv": [1], "myocardium": [2], "la": [3]}
    assert list(task_labels("cardiac")) == ["lv", "myocardium", "la"]  # the channel order of the bundles
    table = task_labels("breast")
    table["lesion"].append(1)  # a config that edits its table does not change the module's
    assert PHANTOM_LABELS["breast"] == {"lesion": [255]} and task_labels("breast") == {"lesion": [255]}
    with pytest.raises(ValueError, match=r"unknown task 'liver': the built-in label tables are breast, cardiac, "
                                         r"thyroid; for masks of another task give their table with --labels"):
        task_labels("liver")
    with pytest.raises(ValueError, match="unknown task None"):
        task_labels(None)
