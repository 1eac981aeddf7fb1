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

"""Tests of monai_ext.io.nifti_writer: (W, H, 1, T) label maps with mm spacing and frame time
(docs/methods/ultrasound-dicom.md, "What is written back")."""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.data import get_testdata_file

from monai_ext.io import write_phantom_clip, write_us_nifti


class TestNiftiWriter(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "clip.dcm", frames=3, size=48, frame_time_ms=40.0)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_clip_from_source(self):
        path = write_us_nifti(self.masks, self.tmp / "clip.nii.gz", source=self.clip)
        image = nib.load(path)
        self.assertEqual(image.shape, (48, 54, 1, 3))  # (x = W, y = H, 1, T); H = 48 + 48 // 8 header rows
        np.testing.assert_allclose(image.header.get_zooms(), (16 / 48 * 10, 16 / 48 * 10, 1.0, 0.04), rtol=1e-6)
        self.assertEqual(image.header.get_xyzt_units(), ("mm", "sec"))
        self.assertEqual(image.header.get_intent()[0], "label")
        self.assertEqual(image.get_data_dtype(), np.uint8)
        data = np.asarray(image.dataobj)
        np.testing.assert_array_equal(np.transpose(data[:, :, 0, :], (2, 1, 0)), self.masks)

    def test_single_frame_explicit_geometry(self):
        label = np.zeros((20, 30), dtype=np.int64)
        label[5:10, 2:4] = 2
        xy = label.T.copy()
        path = write_us_nifti(
            xy, self.tmp / "one.nii", spacing_mm=(0.5, 0.25), crop_offset=(10, 4), reverse_indexing=True
        )
        image = nib.load(path)
        self.assertEqual(image.shape, (30, 20))
        np.testing.assert_allclose(image.affine[:2, :2], np.diag([0.5, 0.25]))
        np.testing.assert_allclose(image.affine[:2, 3], (5.0, 1.0))
        np.testing.assert_array_equal(np.asarray(image.dataobj), xy)

    def test_uncalibrated_source(self):
        src = get_testdata_file("US1_UNCR.dcm", download=False)
        if src is None:
            raise unittest.SkipTest("pydicom-data is not installed")
        image = nib.load(write_us_nifti(np.zeros((480, 640), np.uint8), self.tmp / "u.nii.gz", source=src))
        self.assertEqual(image.header.get_xyzt_units()[0], "unknown")
        np.testing.assert_allclose(image.header.get_zooms(), (1.0, 1.0))

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "label map"):
            write_us_nifti(np.zeros((1, 2, 3, 4)), self.tmp / "e.nii")
        with self.assertRaisesRegex(ValueError, "integer label map"):
            write_us_nifti(np.full((3, 3), 0.5), self.tmp / "e.nii")
        with self.assertRaisesRegex(ValueError, "spacing_mm"):
            write_us_nifti(np.zeros((3, 3), np.uint8), self.tmp / "e.nii", spacing_mm=(0.0, 1.0))
        self.assertFalse((self.tmp / "e.nii").exists())


if __name__ == "__main__":
    unittest.main()


def test_label_maps_are_marked_and_written_atomically(tmp_path):
    path = write_us_nifti(np.zeros((2, 6, 5), np.uint8), tmp_path / "x_mask.nii.gz")
    assert nib.load(path).header["descrip"].tobytes().rstrip(b"\0") == b"monai_ext label map"
    assert [p.name for p in tmp_path.iterdir()] == ["x_mask.nii.gz"]  # no temporary file left behind
