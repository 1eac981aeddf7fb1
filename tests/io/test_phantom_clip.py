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

"""Tests of monai_ext.io.phantom_clip: valid US multi-frame DICOM, ground truth beside it, JPEG variant."""

from __future__ import annotations

import json
import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import UID

from monai_ext.io import write_phantom_clip
from monai_ext.io.phantom_clip import phantom_clip_masks_path
from tests.fixtures import dciodvfy_report

FRAMES, SIZE, PAD = 6, 48, 6  # PAD = size // 8 header rows


class TestPhantomClip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.path, cls.masks = write_phantom_clip(cls.tmp / "sub" / "clip.dcm", frames=FRAMES, size=SIZE, seed=7)
        cls.jpeg_path, cls.jpeg_masks = write_phantom_clip(
            cls.tmp / "clip_jpeg.dcm", frames=FRAMES, size=SIZE, seed=7, jpeg=True
        )
        cls.ds = pydicom.dcmread(cls.path)
        cls.gt = np.load(phantom_clip_masks_path(cls.path))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_valid_us_multiframe(self):
        ds = self.ds
        self.assertEqual(self.path, self.tmp / "sub" / "clip.dcm")
        self.assertEqual(ds.SOPClassUID, "1.2.840.10008.5.1.4.1.1.3.1")
        self.assertEqual(ds.file_meta.MediaStorageSOPClassUID, ds.SOPClassUID)
        self.assertEqual(ds.file_meta.MediaStorageSOPInstanceUID, ds.SOPInstanceUID)
        self.assertEqual(ds.file_meta.TransferSyntaxUID, pydicom.uid.ExplicitVRLittleEndian)
        self.assertEqual(ds.Modality, "US")
        # a scanner's clip, not one of our outputs (serve-dicomweb skips series whose Manufacturer is ours)
        from monai_ext.services import US_OUTPUT_MANUFACTURER

        self.assertNotEqual(ds.Manufacturer, US_OUTPUT_MANUFACTURER)
        self.assertEqual((int(ds.NumberOfFrames), ds.Rows, ds.Columns), (FRAMES, SIZE + PAD, SIZE))
        self.assertEqual((ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.BitsStored), ("MONOCHROME2", 1, 8))
        self.assertEqual(ds.pixel_array.shape, (FRAMES, SIZE + PAD, SIZE))
        self.assertEqual(ds.FrameIncrementPointer, pydicom.tag.Tag("FrameTime"))
        self.assertAlmostEqual(float(ds.FrameTime), 33.333)
        self.assertEqual(int(ds.CineRate), 30)
        for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            self.assertTrue(UID(ds[key].value).is_valid, key)
        for key in ("PatientName", "PatientID", "StudyDate", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
            self.assertIn(key, ds)

    def test_region_calibration(self):
        regions = self.ds.SequenceOfUltrasoundRegions
        self.assertEqual(len(regions), 1)
        r = regions[0]
        self.assertEqual((r.RegionSpatialFormat, r.RegionDataType), (1, 1))
        self.assertEqual((r.PhysicalUnitsXDirection, r.PhysicalUnitsYDirection), (3, 3))
        self.assertAlmostEqual(r.PhysicalDeltaX, 16.0 / SIZE)
        self.assertAlmostEqual(r.PhysicalDeltaY, 16.0 / SIZE)
        box = [r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1, r.RegionLocationMaxY1]
        self.assertEqual(box, self.gt["region_box"].tolist())
        # the region is the bounding box of the sector: every non-graphic non-zero pixel lies inside it
        image = self.ds.pixel_array.max(0) > 0
        image &= ~self.gt["overlay"]
        ys, xs = np.nonzero(image)
        self.assertEqual([xs.min(), ys.min(), xs.max(), ys.max()], box)
        np.testing.assert_allclose(self.gt["spacing_mm"], [160.0 / SIZE] * 2)

    def test_masks(self):
        np.testing.assert_array_equal(self.masks, self.gt["masks"])
        self.assertEqual(self.masks.shape, (FRAMES, SIZE + PAD, SIZE))
        self.assertEqual(self.masks.dtype, np.uint8)
        self.assertEqual(set(np.unique(self.masks)), {0, 1, 2, 3})
        self.assertEqual(json.loads(str(self.gt["labels"])), {"lv": 1, "myocardium": 2, "la": 3})
        self.assertEqual(self.masks[:, :PAD].max(), 0)  # nothing under the header bar
        x0, y0, x1, y1 = self.gt["region_box"]
        inside = np.zeros(self.masks.shape[1:], bool)
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
        self.assertEqual(self.masks[:, ~inside].max(), 0)
        np.testing.assert_allclose(self.gt["t_ms"], np.arange(FRAMES) * 33.333)
        # the heart beats: the LV cavity contracts from end diastole (phase 0)
        lv_area = (self.masks == 1).sum(axis=(1, 2))
        self.assertLess(lv_area[-1], lv_area[0])
        self.assertTrue(np.all(np.diff(self.gt["phases"]) > 0))

    def test_burned_in_graphics(self):
        overlay = self.gt["overlay"]
        self.assertGreater(overlay[:PAD].sum(), 0)  # header bar
        self.assertGreater(overlay[PAD:].sum(), 0)  # ticks / marker in the image area
        pixels = self.ds.pixel_array
        self.assertTrue(np.all(pixels[:, overlay] == 220))
        self.assertEqual(self.masks[:, overlay].max(), 0)  # graphics never cover the anatomy

    def test_deterministic(self):
        again, masks = write_phantom_clip(self.tmp / "again.dcm", frames=FRAMES, size=SIZE, seed=7)
        ds = pydicom.dcmread(again)
        self.assertEqual(ds.SOPInstanceUID, self.ds.SOPInstanceUID)
        self.assertEqual(ds.StudyInstanceUID, self.ds.StudyInstanceUID)
        np.testing.assert_array_equal(ds.pixel_array, self.ds.pixel_array)
        np.testing.assert_array_equal(masks, self.masks)
        other = pydicom.dcmread(write_phantom_clip(self.tmp / "other.dcm", frames=2, size=32, seed=8)[0])
        self.assertNotEqual(other.StudyInstanceUID, self.ds.StudyInstanceUID)

    def test_jpeg_variant(self):
        ds = pydicom.dcmread(self.jpeg_path)
        self.assertEqual(ds.file_meta.TransferSyntaxUID, pydicom.uid.JPEGBaseline8Bit)
        self.assertEqual((ds.PhotometricInterpretation, ds.SamplesPerPixel), ("YBR_FULL_422", 3))
        self.assertEqual(ds.LossyImageCompression, "01")
        self.assertEqual(ds.LossyImageCompressionMethod, "ISO_10918_1")
        self.assertEqual(int(ds.NumberOfFrames), FRAMES)
        self.assertEqual(ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxY1, self.gt["region_box"][3])
        # the same UIDs for study and series, a new instance
        self.assertEqual(ds.StudyInstanceUID, self.ds.StudyInstanceUID)
        self.assertNotEqual(ds.SOPInstanceUID, self.ds.SOPInstanceUID)
        np.testing.assert_array_equal(self.jpeg_masks, self.masks)
        # decodes close to the original: the Y plane against the uncompressed frames
        for plugin in ("pillow", "pylibjpeg"):
            ybr = pydicom.pixels.pixel_array(self.jpeg_path, as_rgb=False, decoding_plugin=plugin)
            self.assertEqual(ybr.shape, (FRAMES, SIZE + PAD, SIZE, 3))
            err = np.abs(ybr[..., 0].astype(int) - self.ds.pixel_array)
            self.assertLess(err.mean(), 3.0, plugin)
            self.assertLess(np.abs(ybr[..., 1:].astype(int) - 128).max(), 4)  # grey: no chroma

    def test_iod_validator(self):
        for path in (self.path, self.jpeg_path):
            report = dciodvfy_report(path)
            self.assertIn("USMultiFrameImage", report)
            self.assertNotIn("Error", report, report)

    def test_bad_arguments(self):
        for kwargs in ({"task": "breast"}, {"frames": 0}, {"size": 16}, {"jpeg_quality": 0}, {"frame_time_ms": 0}):
            with self.assertRaises(ValueError):
                write_phantom_clip(self.tmp / "bad.dcm", **{"frames": 2, "size": 32, **kwargs})


if __name__ == "__main__":
    unittest.main()
