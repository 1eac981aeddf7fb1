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

"""Tests of monai_ext.io.seg_writer: BINARY/FRACTIONAL SEG on single-frame US, key-frame SEG on clips, dciodvfy.

The structure codes are tested in test_structure_codes.py, the key frames themselves in test_keyframe_writer.py.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import unittest
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom

from monai_ext.io import write_phantom_clip, write_us_seg
from tests.fixtures import dciodvfy_errors, pydicom_sample

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
STRIPPED = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "PatientOrientation",
    "FrameOfReferenceUID",
)




def _strip(ds: pydicom.Dataset) -> pydicom.Dataset:
    for keyword in STRIPPED:
        if keyword in ds:
            delattr(ds, keyword)
    return ds


class TestSingleFrameSeg(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.src = pydicom_sample("US1_UNCR.dcm")  # real GE LOGIQ 700 single frame, 480 x 640 RGB, no region, no FoR
        cls.ds = pydicom.dcmread(cls.src)
        cls.label = np.zeros((480, 640), dtype=np.uint8)
        cls.label[100:200, 150:300] = 1
        cls.label[130:150, 180:200] = 0  # a hole
        cls.label[300:330, 400:460] = 2

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_binary_label_map(self):
        result = write_us_seg(self.src, self.label, ["breast_lesion", "cyst"], self.tmp / "seg.dcm")
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        self.assertIsNone(result.keyframe_path)
        self.assertIsNone(result.source_frame_number)
        self.assertEqual(result.segment_numbers, {"breast_lesion": 1, "cyst": 2})
        self.assertEqual(result.empty_structures, [])
        seg = pydicom.dcmread(result.seg_path)
        self.assertEqual((seg.SOPClassUID, seg.Modality, seg.SegmentationType), (SEG_SOP_CLASS, "SEG", "BINARY"))
        self.assertEqual(seg.StudyInstanceUID, self.ds.StudyInstanceUID)
        self.assertNotEqual(seg.SeriesInstanceUID, self.ds.SeriesInstanceUID)
        ref = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
        self.assertEqual(ref.ReferencedSOPInstanceUID, self.ds.SOPInstanceUID)
        self.assertEqual(result.referenced_sop_instance_uid, self.ds.SOPInstanceUID)
        self.assertIn("PatientOrientation", seg)
        self.assertNotIn("FrameOfReferenceUID", seg)
        first, second = seg.SegmentSequence
        self.assertEqual(first.SegmentLabel, "breast_lesion")
        self.assertEqual(first.SegmentedPropertyTypeCodeSequence[0].CodeValue, "52988006")
        self.assertEqual(first.AnatomicRegionSequence[0].CodeValue, "76752008")
        self.assertEqual(second.SegmentedPropertyTypeCodeSequence[0].CodeValue, "367643001")
        self.assertEqual(first.SegmentAlgorithmType, "AUTOMATIC")
        reread = hd.seg.segread(result.seg_path)
        pixels = reread.get_pixels_by_source_instance(
            source_sop_instance_uids=[self.ds.SOPInstanceUID], combine_segments=True
        )
        self.assertEqual(pixels.shape, (1, 480, 640))
        np.testing.assert_array_equal(pixels[0], self.label)
        self.assertEqual(int((pixels[0] == 1).sum()), 100 * 150 - 20 * 20)

    def test_per_structure_crop_offset_and_empty(self):
        # (S, X, Y) masks of a 60 x 40 (rows x columns) crop at (x0, y0) = (200, 50), the reader's layout
        crop = np.zeros((2, 40, 60), dtype=bool)
        crop[0, 5:15, 10:30] = True  # x 5..14, y 10..29
        result = write_us_seg(
            self.src, crop, ["lesion", "nodule"], self.tmp / "crop.dcm", crop_offset=(200, 50), reverse_indexing=True
        )
        self.assertEqual(result.empty_structures, ["nodule"])
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        reread = hd.seg.segread(result.seg_path)
        self.assertEqual(reread.number_of_segments, 2)
        pixels = reread.get_pixels_by_source_instance(source_sop_instance_uids=[self.ds.SOPInstanceUID])
        self.assertEqual(pixels.shape, (1, 480, 640, 2))
        expected = np.zeros((480, 640), dtype=bool)
        expected[60:80, 205:215] = True  # rows y0 + 10..29, columns x0 + 5..14
        np.testing.assert_array_equal(pixels[0, ..., 0], expected)
        self.assertEqual(int(pixels[0, ..., 1].sum()), 0)

    def test_fractional(self):
        probs = np.zeros((1, 480, 640), dtype=np.float32)
        probs[0, 10:20, 10:20] = 0.5
        probs[0, 10:20, 20:30] = 1.0
        result = write_us_seg(self.src, probs, ["mass"], self.tmp / "frac.dcm", segmentation_type="fractional")
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        seg = pydicom.dcmread(result.seg_path)
        self.assertEqual((seg.SegmentationType, seg.MaximumFractionalValue), ("FRACTIONAL", 255))
        back = hd.seg.segread(result.seg_path).get_pixels_by_source_instance(
            source_sop_instance_uids=[self.ds.SOPInstanceUID]
        )
        self.assertAlmostEqual(float(back[0, 15, 15, 0]), 0.5, delta=1 / 255)
        self.assertAlmostEqual(float(back[0, 15, 25, 0]), 1.0, places=6)
        self.assertEqual(float(back[0, 100, 100, 0]), 0.0)

    def test_missing_attributes(self):
        stripped = _strip(copy.deepcopy(self.ds))
        before = stripped.to_json_dict(bulk_data_threshold=1, bulk_data_element_handler=lambda e: "")
        result = write_us_seg(stripped, self.label, ["breast_lesion", "cyst"], self.tmp / "stripped.dcm")
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        after = stripped.to_json_dict(bulk_data_threshold=1, bulk_data_element_handler=lambda e: "")
        self.assertEqual(before, after)  # the caller's dataset is not modified
        seg = pydicom.dcmread(result.seg_path)
        self.assertEqual((seg.PatientID, seg.StudyTime, seg.PatientOrientation), ("", "", ""))
        self.assertEqual(seg.StudyInstanceUID, self.ds.StudyInstanceUID)

    def test_errors(self):
        out = self.tmp / "bad.dcm"
        with self.assertRaisesRegex(ValueError, "US1_UNCR.*masks are 10 x 10.*480 x 640"):
            write_us_seg(self.src, np.zeros((10, 10), np.uint8), ["lv"], out)
        with self.assertRaisesRegex(ValueError, r"label values \[3\]"):
            write_us_seg(self.src, np.full((480, 640), 3, np.uint8), ["lv", "la"], out)
        with self.assertRaisesRegex(ValueError, "must be binary"):
            write_us_seg(self.src, np.full((1, 480, 640), 0.3, np.float32), ["lv"], out)
        with self.assertRaisesRegex(ValueError, "2 structure channel"):
            write_us_seg(self.src, np.zeros((2, 480, 640), bool), ["lv"], out)
        with self.assertRaisesRegex(ValueError, "single-frame source, frame_index"):
            write_us_seg(self.src, self.label, ["lv", "la"], out, frame_index=1)
        with self.assertRaisesRegex(ValueError, "do not fit"):
            write_us_seg(self.src, np.zeros((1, 40, 60), bool), ["lv"], out, crop_offset=(600, 0))
        with self.assertRaisesRegex(ValueError, "unique"):
            write_us_seg(self.src, self.label, ["lv", "LV"], out)
        with self.assertRaisesRegex(ValueError, "segmentation_type"):
            write_us_seg(self.src, self.label, ["lv", "la"], out, segmentation_type="labelmap")
        no_uid = copy.deepcopy(self.ds)
        del no_uid.SOPInstanceUID
        with self.assertRaisesRegex(ValueError, r"lacks required attribute\(s\) \['SOPInstanceUID'\]"):
            write_us_seg(no_uid, self.label, ["lv", "la"], out)
        with self.assertRaises(FileNotFoundError):
            write_us_seg(self.tmp / "missing.dcm", self.label, ["lv", "la"], out)
        self.assertFalse(out.exists())


class TestClipKeyFrameSeg(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "clip.dcm", frames=4, size=64, seed=3)
        cls.jpeg, cls.jpeg_masks = write_phantom_clip(cls.tmp / "clip_jpeg.dcm", frames=4, size=64, seed=3, jpeg=True)
        cls.clip_ds = pydicom.dcmread(cls.clip)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_keyframe_seg(self):
        result = write_us_seg(self.clip, self.masks[2], ["lv", "myocardium", "la"], self.tmp / "kf_seg.dcm", 2)
        self.assertEqual(result.keyframe_path, self.tmp / "kf_seg_keyframe3.dcm")
        self.assertEqual(result.source_frame_number, 3)
        self.assertEqual(dciodvfy_errors(result.keyframe_path), [])
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        key = pydicom.dcmread(result.keyframe_path)
        self.assertEqual((key.SOPClassUID, key.Modality, key.ImageType[0]), (US_IMAGE, "US", "DERIVED"))
        self.assertNotIn("NumberOfFrames", key)
        self.assertNotIn("FrameOfReferenceUID", key)
        self.assertEqual(key.StudyInstanceUID, self.clip_ds.StudyInstanceUID)
        self.assertNotEqual(key.SeriesInstanceUID, self.clip_ds.SeriesInstanceUID)
        source = key.SourceImageSequence[0]
        self.assertEqual(source.ReferencedSOPInstanceUID, self.clip_ds.SOPInstanceUID)
        self.assertEqual(int(source.ReferencedFrameNumber), 3)
        self.assertEqual(len(key.SequenceOfUltrasoundRegions), 1)  # the calibration still applies
        np.testing.assert_array_equal(key.pixel_array, pydicom.pixels.pixel_array(str(self.clip), index=2))
        seg = pydicom.dcmread(result.seg_path)
        ref = seg.ReferencedSeriesSequence[0]
        self.assertEqual(ref.SeriesInstanceUID, key.SeriesInstanceUID)
        self.assertEqual(ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID, key.SOPInstanceUID)
        pixels = hd.seg.segread(result.seg_path).get_pixels_by_source_instance(
            source_sop_instance_uids=[key.SOPInstanceUID], combine_segments=True
        )
        np.testing.assert_array_equal(pixels[0], self.masks[2])
        types = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence]
        self.assertEqual(types, ["87878005", "49848007", "82471001"])

    def test_jpeg_clip_seg(self):
        result = write_us_seg(
            self.jpeg, self.jpeg_masks[1], ["lv", "myocardium", "la"], self.tmp / "j_seg.dcm", frame_index=1
        )
        self.assertEqual(dciodvfy_errors(result.seg_path), [])

    def test_stripped_clip(self):
        ds = _strip(pydicom.dcmread(self.clip))
        ds.save_as(self.tmp / "stripped.dcm")
        result = write_us_seg(
            self.tmp / "stripped.dcm", self.masks[0], ["lv", "myocardium", "la"], self.tmp / "s_seg.dcm", frame_index=0
        )
        self.assertEqual(dciodvfy_errors(result.keyframe_path), [])
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        self.assertEqual(pydicom.dcmread(result.keyframe_path).PatientID, "")

    def test_real_jpeg_clip(self):
        src = pydicom_sample("examples_ybr_color.dcm")  # SonoSite cine, JPEG baseline YBR_FULL_422, 30 frames
        mask = np.zeros((240, 320), dtype=np.uint8)
        mask[80:140, 120:200] = 1
        result = write_us_seg(src, mask, ["lv"], self.tmp / "ybr_seg.dcm", frame_index=7)
        self.assertEqual(dciodvfy_errors(result.keyframe_path), [])
        self.assertEqual(dciodvfy_errors(result.seg_path), [])
        key = pydicom.dcmread(result.keyframe_path)
        self.assertEqual((key.PhotometricInterpretation, key.Rows, key.Columns), ("RGB", 240, 320))
        self.assertEqual(int(key.SourceImageSequence[0].ReferencedFrameNumber), 8)

    def test_failed_write_leaves_no_file(self):
        original = hd.seg.Segmentation.save_as

        def half_then_fail(seg, path, *args, **kwargs):
            Path(path).write_bytes(b"DICM half")
            raise OSError("No space left on device")

        hd.seg.Segmentation.save_as = half_then_fail
        try:
            with self.assertRaisesRegex(OSError, "No space left"):
                write_us_seg(self.clip, self.masks[1], ["lv", "myocardium", "la"], self.tmp / "full" / "f_seg.dcm",
                             frame_index=1, keyframe_path=self.tmp / "full" / "f_key.dcm")
        finally:
            hd.seg.Segmentation.save_as = original
        # the key frame was complete and stays; the SEG never appears half-written, no temporary file is left
        self.assertEqual(sorted(p.name for p in (self.tmp / "full").iterdir()), ["f_key.dcm"])

    def test_clip_errors(self):
        with self.assertRaisesRegex(ValueError, "multi-frame source.*write_us_contour_sr"):
            write_us_seg(self.clip, self.masks[0], ["lv", "myocardium", "la"], self.tmp / "x.dcm")
        with self.assertRaisesRegex(ValueError, "frame_index 4 is out of range for 4"):
            write_us_seg(self.clip, self.masks[0], ["lv", "myocardium", "la"], self.tmp / "x.dcm", frame_index=4)


if __name__ == "__main__":
    unittest.main()
