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

"""Tests of monai_ext.io.keyframe_writer: single-frame Ultrasound Image Storage key frames derived from clip frames."""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pydicom

from monai_ext.io import write_phantom_clip, write_us_keyframe
from monai_ext.io.keyframe_writer import US_IMAGE_STORAGE_UID
from tests.fixtures import dciodvfy_errors, pydicom_sample


class TestKeyFrames(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "clip.dcm", frames=4, size=64, seed=3)
        cls.jpeg, cls.jpeg_masks = write_phantom_clip(cls.tmp / "clip_jpeg.dcm", frames=4, size=64, seed=3, jpeg=True)
        cls.clip_ds = pydicom.dcmread(cls.clip)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_keyframe_of_a_clip_frame(self):
        key = write_us_keyframe(self.clip, 2, self.tmp / "k2.dcm")
        self.assertEqual(dciodvfy_errors(self.tmp / "k2.dcm"), [])
        self.assertEqual((key.SOPClassUID, key.Modality, key.ImageType[0]), (US_IMAGE_STORAGE_UID, "US", "DERIVED"))
        self.assertEqual(key.InstanceNumber, 3)
        self.assertNotIn("NumberOfFrames", key)
        self.assertEqual(key.StudyInstanceUID, self.clip_ds.StudyInstanceUID)
        self.assertNotEqual(key.SeriesInstanceUID, self.clip_ds.SeriesInstanceUID)
        source = key.SourceImageSequence[0]
        self.assertEqual(source.ReferencedSOPInstanceUID, self.clip_ds.SOPInstanceUID)
        self.assertEqual(int(source.ReferencedFrameNumber), 3)
        np.testing.assert_array_equal(key.pixel_array, pydicom.pixels.pixel_array(str(self.clip), index=2))
        before = sorted(self.tmp.iterdir())
        self.assertEqual(write_us_keyframe(self.clip, 2).SOPInstanceUID, key.SOPInstanceUID)  # deterministic
        self.assertEqual(sorted(self.tmp.iterdir()), before)  # nothing saved without a path

    def test_jpeg_clip_keyframe_is_rgb_lossy_and_deterministic(self):
        key = write_us_keyframe(self.jpeg, 1, self.tmp / "k1.dcm")
        again = write_us_keyframe(self.jpeg, 1)
        self.assertEqual((key.SOPInstanceUID, key.SeriesInstanceUID), (again.SOPInstanceUID, again.SeriesInstanceUID))
        self.assertNotEqual(key.SOPInstanceUID, write_us_keyframe(self.jpeg, 0).SOPInstanceUID)
        self.assertEqual((key.PhotometricInterpretation, key.SamplesPerPixel), ("RGB", 3))
        self.assertEqual((key.LossyImageCompression, key.LossyImageCompressionMethod), ("01", "ISO_10918_1"))
        self.assertEqual(key.InstanceNumber, 2)
        np.testing.assert_array_equal(pydicom.dcmread(self.tmp / "k1.dcm").pixel_array, key.pixel_array)
        self.assertEqual(dciodvfy_errors(self.tmp / "k1.dcm"), [])

    def test_regions_outside_the_image_are_not_copied_into_the_key_frame(self):
        src = pydicom_sample("examples_ybr_color.dcm")  # its first region box (84, 31, 595, 414) exceeds 320 x 240
        source_regions = pydicom.dcmread(src, stop_before_pixels=True).SequenceOfUltrasoundRegions
        key = write_us_keyframe(src, 3, self.tmp / "ybr_key.dcm")
        kept = pydicom.dcmread(self.tmp / "ybr_key.dcm").get("SequenceOfUltrasoundRegions", [])
        self.assertEqual(len(kept), len(source_regions) - 1)
        for item in kept:
            self.assertLess(int(item.RegionLocationMaxX1), int(key.Columns))
            self.assertLess(int(item.RegionLocationMaxY1), int(key.Rows))

    def test_errors(self):
        with self.assertRaises(TypeError):
            write_us_keyframe(self.clip, 1.0)
        with self.assertRaisesRegex(ValueError, "frame_index 4 is out of range for 4"):
            write_us_keyframe(self.clip, 4)
        header_only = pydicom.dcmread(self.clip, stop_before_pixels=True)
        with self.assertRaisesRegex(ValueError, "no pixel data"):
            write_us_keyframe(header_only, 0)


if __name__ == "__main__":
    unittest.main()
