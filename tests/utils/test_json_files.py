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
"""Tests of monai_ext.utils.json_files: a JSON object file, or the caller's error naming the file."""

from __future__ import annotations

import pytest

from monai_ext.utils import read_json_object


class _Err(Exception):
    pass


def test_reads_an_object(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{"x": 1, "y": [2]}', encoding="utf-8")
    assert read_json_object(p, _Err, "thing") == {"x": 1, "y": [2]}
    assert read_json_object(str(p)) == {"x": 1, "y": [2]}


@pytest.mark.parametrize(
    "content,message",
    [
        ("[1, 2]", r"thing .*a\.json: expected a JSON object, got list"),
        ("{not json", r"cannot read thing .*a\.json: Expecting"),
        (b"\xff\xfe{}", r"cannot read thing .*a\.json: 'utf-8' codec"),
    ],
)
def test_bad_content_raises_the_callers_error(tmp_path, content, message):
    p = tmp_path / "a.json"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(_Err, match=message):
        read_json_object(p, _Err, "thing")


def test_missing_file_and_default_error(tmp_path):
    with pytest.raises(ValueError, match=r"^cannot read .*absent\.json: "):
        read_json_object(tmp_path / "absent.json")
