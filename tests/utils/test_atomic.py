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
"""Tests of monai_ext.utils.atomic: outputs appear whole under their final name, or not at all."""

from __future__ import annotations

import pytest

from monai_ext.utils import StagedOutputs, atomic_output, temporary_sibling


def test_temporary_sibling_is_hidden_in_the_same_folder_and_keeps_the_suffix(tmp_path):
    for name, suffix in (("x_mask.png", ".png"), ("x_mask.nii.gz", ".nii.gz"), ("x_sr.dcm", ".dcm")):
        tmp = temporary_sibling(tmp_path / name)
        assert tmp.parent == tmp_path and tmp.name.startswith(f".{name}.") and tmp.name.endswith(f".tmp{suffix}")
    assert temporary_sibling(tmp_path / "a.png") != temporary_sibling(tmp_path / "a.png")


def test_atomic_output_renames_on_success_and_removes_on_error(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    with atomic_output(out) as tmp:
        tmp.write_text("whole")
        assert not out.exists()  # nothing under the final name while writing
    assert out.read_text() == "whole"
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert out.read_text() == "whole"  # the old file is untouched, the half-written one is gone
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.txt"]


def test_staged_outputs_publish_all_or_none(tmp_path):
    with StagedOutputs() as stage:
        stage.path(tmp_path / "a_sr.dcm").write_text("sr")
        stage.path(tmp_path / "a_f0001_seg.dcm").write_text("seg")
        assert list(tmp_path.glob("a_*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_f0001_seg.dcm", "a_sr.dcm"]
    with pytest.raises(ValueError):
        with StagedOutputs() as stage:
            stage.path(tmp_path / "b_sr.dcm").write_text("sr")
            stage.path(tmp_path / "b_f0001_seg.dcm")  # the second output fails before it is written
            raise ValueError("frame 3 cannot be encoded")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_f0001_seg.dcm", "a_sr.dcm"]  # no b_* at all
