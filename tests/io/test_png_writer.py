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
"""Tests of monai_ext.io.png_writer: SaveImage with USAtomicPILWriter writes whole, marked PNG masks."""

from __future__ import annotations

import numpy as np
import pytest
from monai.data import MetaTensor
from monai.transforms import SaveImage
from PIL import Image

from monai_ext.io import USAtomicPILWriter


def test_it_is_monai_pil_writer():
    from monai.data import PILWriter

    assert issubclass(USAtomicPILWriter, PILWriter)


def _saver(out):
    return SaveImage(output_dir=str(out), output_postfix="mask", output_ext=".png", output_dtype=np.uint8,
                     separate_folder=False, print_log=False, writer="monai_ext.io.USAtomicPILWriter")


def test_masks_are_written_whole_and_carry_our_software_tag(tmp_path):
    mask = np.zeros((1, 20, 16), np.uint8)
    mask[0, 2:6, 3:9] = 255
    _saver(tmp_path)(MetaTensor(mask, meta={"filename_or_obj": "/in/a.png"}))
    assert [p.name for p in tmp_path.iterdir()] == ["a_mask.png"]  # no temporary file left
    with Image.open(tmp_path / "a_mask.png") as im:
        assert im.info["Software"].startswith("monai_ext ")
        assert np.array_equal(np.asarray(im).T, mask[0])  # MONAI's (W, H) order, as PILWriter writes it


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    _saver(tmp_path)(MetaTensor(np.zeros((1, 8, 8), np.uint8), meta={"filename_or_obj": "/in/b.png"}))
    before = (tmp_path / "b_mask.png").read_bytes()

    def crash(self, fp, *args, **kwargs):
        open(fp, "wb").write(b"\x89PNG half")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(RuntimeError, match="No space left on device"):  # SaveImage wraps the writer's error
        _saver(tmp_path)(MetaTensor(np.ones((1, 8, 8), np.uint8), meta={"filename_or_obj": "/in/b.png"}))
    assert [p.name for p in tmp_path.iterdir()] == ["b_mask.png"] and (tmp_path / "b_mask.png").read_bytes() == before
