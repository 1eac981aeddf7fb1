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

"""Tests of monai_ext.io.sr_writer: exact pixel-boundary contours and TID 1500 SR on clips, checked by dciodvfy."""

from __future__ import annotations

import copy
import shutil
import tempfile
import unittest
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import torch
from parameterized import parameterized
from pydicom.data import get_testdata_file
from scipy import ndimage

from monai_ext.io import UltrasoundDicomReader, trace_mask_contours, write_phantom_clip, write_us_contour_sr
from tests.fixtures import dciodvfy_errors

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
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
NAMES = ["lv", "myocardium", "la"]



def _raster(polygons: list[np.ndarray], rows: int, columns: int) -> np.ndarray:
    """Even-odd fill of closed (x, y) polygons sampled at pixel centres (x + 0.5, y + 0.5)."""
    ys, xs = np.mgrid[0:rows, 0:columns] + 0.5
    inside = np.zeros((rows, columns), dtype=bool)
    for polygon in polygons:
        for (x1, y1), (x2, y2) in zip(polygon[:-1], polygon[1:]):
            if y1 == y2:
                continue
            crosses = (y1 > ys) != (y2 > ys)
            inside ^= crosses & (xs < x1 + (ys - y1) * (x2 - x1) / (y2 - y1))
    return inside


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:-1, 0], polygon[:-1, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def _frame_number(group) -> int | None:
    ref = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
    return int(ref.ReferencedFrameNumber) if "ReferencedFrameNumber" in ref else None


class TestTraceMaskContours(unittest.TestCase):
    def test_rectangle_exact_vertices(self):
        mask = np.zeros((6, 8), dtype=bool)
        mask[1:3, 2:5] = True  # rows 1-2, columns 2-4
        (polygon,) = trace_mask_contours(mask)
        np.testing.assert_array_equal(polygon, [[2, 1], [5, 1], [5, 3], [2, 3], [2, 1]])

    def test_hole_keyhole_and_fill(self):
        mask = np.zeros((7, 7), dtype=np.uint8)
        mask[1:6, 1:6] = 1
        mask[3, 3] = 0
        (keyhole,) = trace_mask_contours(mask)
        self.assertEqual(_area(keyhole), 24.0)
        np.testing.assert_array_equal(_raster([keyhole], 7, 7), mask.astype(bool))
        (filled,) = trace_mask_contours(mask, holes="fill")
        self.assertEqual((_area(filled), len(filled)), (25.0, 5))

    def test_connectivity(self):
        mask = np.zeros((4, 4), dtype=bool)
        mask[1, 1] = mask[2, 2] = True
        self.assertEqual(len(trace_mask_contours(mask, connectivity=8)), 1)
        self.assertEqual(len(trace_mask_contours(mask, connectivity=4)), 2)
        self.assertEqual(len(trace_mask_contours(mask, min_pixels=2, connectivity=4)), 0)
        self.assertEqual(trace_mask_contours(np.zeros((5, 5), bool)), [])

    @parameterized.expand([(seed, conn) for seed in range(4) for conn in (4, 8)])
    def test_random_masks_exact(self, seed, connectivity):
        rng = np.random.default_rng(seed)
        mask = rng.random((24, 31)) < 0.55  # many components, holes, diagonal contacts
        polygons = trace_mask_contours(mask, connectivity=connectivity)
        n = ndimage.label(mask, structure=np.ones((3, 3)) if connectivity == 8 else None)[1]
        self.assertEqual(len(polygons), n)
        np.testing.assert_array_equal(_raster(polygons, 24, 31), mask)
        self.assertEqual(sum(_area(p) for p in polygons), float(mask.sum()))
        self.assertTrue(all((p[0] == p[-1]).all() for p in polygons))

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "2D"):
            trace_mask_contours(np.zeros((2, 3, 3)))
        with self.assertRaisesRegex(ValueError, "binary"):
            trace_mask_contours(np.full((3, 3), 0.5))
        with self.assertRaisesRegex(ValueError, "connectivity"):
            trace_mask_contours(np.zeros((3, 3)), connectivity=6)
        with self.assertRaisesRegex(ValueError, "holes"):
            trace_mask_contours(np.zeros((3, 3)), holes="drop")


class TestContourSR(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "clip.dcm", frames=4, size=64, seed=5)
        cls.ds = pydicom.dcmread(cls.clip, stop_before_pixels=True)
        cls.result = write_us_contour_sr(cls.clip, cls.masks, NAMES, cls.tmp / "sr.dcm")
        cls.groups = hd.sr.srread(cls.result.sr_path).content.get_planar_roi_measurement_groups()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _components(self, masks) -> int:
        return sum(
            ndimage.label(masks[t] == k, structure=np.ones((3, 3)))[1]
            for t in range(masks.shape[0])
            for k in range(1, 4)
        )

    def test_valid_sr(self):
        self.assertEqual(dciodvfy_errors(self.result.sr_path), [])
        sr = pydicom.dcmread(self.result.sr_path)
        self.assertEqual((sr.SOPClassUID, sr.Modality), (COMPREHENSIVE_3D_SR, "SR"))
        self.assertEqual(sr.StudyInstanceUID, self.ds.StudyInstanceUID)
        self.assertEqual(sr.ContentTemplateSequence[0].TemplateIdentifier, "1500")
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        self.assertEqual(evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID, self.ds.SOPInstanceUID)
        self.assertEqual(self.result.frame_numbers, [1, 2, 3, 4])
        self.assertEqual((self.result.area_unit, self.result.spacing_source), ("cm2", "region"))

    def test_groups_reproduce_masks(self):
        self.assertEqual(len(self.groups), self.result.n_regions)
        self.assertEqual(self.result.n_regions, self._components(self.masks))
        self.assertEqual(self.result.absent_structures, [])
        codes = {"87878005": 1, "49848007": 2, "82471001": 3}
        spacing_cm = 16.0 / 64  # phantom depth / size
        rebuilt = np.zeros_like(self.masks)
        for group in self.groups:
            frame = _frame_number(group)
            label = codes[group.finding_type.value]
            name = NAMES[label - 1]
            self.assertTrue(group.tracking_identifier.startswith(f"{name} frame {frame}"))
            ref = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
            self.assertEqual(ref.ReferencedSOPInstanceUID, self.ds.SOPInstanceUID)
            self.assertEqual(group.roi.graphic_type, hd.sr.GraphicTypeValues.POLYLINE)
            polygon = group.roi.value
            region = _raster([polygon], *self.masks.shape[1:])
            self.assertTrue((self.masks[frame - 1][region] == label).all())
            rebuilt[frame - 1][region] = label
            (area,) = group.get_measurements()
            self.assertEqual((area.name.value, area.unit.value), ("42798000", "cm2"))
            self.assertAlmostEqual(area.value, region.sum() * spacing_cm**2, places=4)
        np.testing.assert_array_equal(rebuilt, self.masks)

    def test_reader_crop_layout_matches_full_frame(self):
        # masks as a model would output them: the reader's (X, Y) layout of the region crop, on frames 1 and 3 only
        image, meta = UltrasoundDicomReader(frames=[1, 3], warn_uncalibrated=False).get_data(
            UltrasoundDicomReader(frames=[1, 3]).read(self.clip)
        )
        x0, y0, x1, y1 = meta["crop_box"]
        self.assertEqual(image.shape[1:3], (x1 - x0 + 1, y1 - y0 + 1))
        crop = self.masks[meta["frame_indices"], y0 : y1 + 1, x0 : x1 + 1]
        crop_xy = torch.as_tensor(np.swapaxes(crop, 1, 2))
        result = write_us_contour_sr(
            self.clip,
            crop_xy,
            NAMES,
            self.tmp / "crop_sr.dcm",
            frame_indices=meta["frame_indices"],
            crop_offset=meta["crop_offset"],
            reverse_indexing=True,
        )
        self.assertEqual(result.frame_numbers, [2, 4])
        self.assertEqual(dciodvfy_errors(result.sr_path), [])
        groups = hd.sr.srread(result.sr_path).content.get_planar_roi_measurement_groups()
        expected = {
            (g.tracking_identifier, tuple(g.roi.value.ravel())) for g in self.groups if _frame_number(g) in (2, 4)
        }
        self.assertEqual({(g.tracking_identifier, tuple(g.roi.value.ravel())) for g in groups}, expected)

    def test_absent_structure_and_per_structure_masks(self):
        per_structure = np.stack([self.masks == k for k in (1, 2, 3)], axis=1)  # (T, S, H, W)
        per_structure[:, 2] = False  # no LA anywhere
        result = write_us_contour_sr(self.clip, per_structure, NAMES, self.tmp / "absent.dcm", include_area=False)
        self.assertEqual(result.absent_structures, ["la"])
        self.assertEqual(result.regions_per_structure["la"], 0)
        self.assertIsNone(result.area_unit)
        self.assertEqual(dciodvfy_errors(result.sr_path), [])
        content = hd.sr.srread(result.sr_path).content
        self.assertTrue(all(not g.get_measurements() for g in content.get_planar_roi_measurement_groups()))
        (absent,) = content.get_image_measurement_groups()
        self.assertEqual(absent.tracking_identifier, "la absent")
        self.assertEqual(absent.finding_type.value, "82471001")
        evaluations = {e.name.value: e.value.value for e in absent.get_qualitative_evaluations()}
        self.assertEqual(evaluations["121052"], "121054")  # presence of property: absent

    def test_stripped_source_dataset(self):
        stripped = pydicom.dcmread(self.clip)
        for keyword in STRIPPED:
            if keyword in stripped:
                delattr(stripped, keyword)
        untouched = copy.deepcopy(stripped)
        result = write_us_contour_sr(stripped, self.masks, NAMES, self.tmp / "stripped.dcm")
        self.assertEqual(stripped, untouched)
        self.assertEqual(dciodvfy_errors(result.sr_path), [])
        sr = pydicom.dcmread(result.sr_path)
        self.assertEqual((sr.PatientID, sr.StudyTime), ("", ""))

    def test_errors(self):
        out = self.tmp / "bad.dcm"
        with self.assertRaisesRegex(ValueError, "clip.dcm: 2 mask frame.*frame_indices"):
            write_us_contour_sr(self.clip, self.masks[:2], NAMES, out)
        with self.assertRaisesRegex(ValueError, r"frame_indices \[9\] are out of range"):
            write_us_contour_sr(self.clip, self.masks[:2], NAMES, out, frame_indices=[0, 9])
        with self.assertRaisesRegex(ValueError, "unique"):
            write_us_contour_sr(self.clip, self.masks[:2], NAMES, out, frame_indices=[1, 1])
        with self.assertRaisesRegex(ValueError, "2 structure channel"):
            write_us_contour_sr(self.clip, np.zeros((4, 2, 72, 64), bool), NAMES, out)
        with self.assertRaisesRegex(ValueError, "do not fit"):
            write_us_contour_sr(self.clip, self.masks, NAMES, out, crop_offset=(10, 10))
        with self.assertRaisesRegex(ValueError, "nothing to report"):
            write_us_contour_sr(self.clip, np.zeros_like(self.masks), NAMES, out, report_absent=False)
        self.assertFalse(out.exists())


class TestSingleFrameSR(unittest.TestCase):
    def test_real_single_frame_without_calibration(self):
        src = get_testdata_file("US1_UNCR.dcm", download=False)
        if src is None:
            raise unittest.SkipTest("pydicom-data is not installed")
        label = np.zeros((480, 640), dtype=np.uint8)
        label[100:200, 150:300] = 1
        label[130:150, 180:200] = 0
        label[300:330, 400:460] = 1  # a second lesion
        with tempfile.TemporaryDirectory() as tmp:
            result = write_us_contour_sr(src, label, ["breast_lesion"], Path(tmp) / "sr.dcm")
            self.assertEqual(dciodvfy_errors(result.sr_path), [])
            self.assertEqual((result.n_regions, result.frame_numbers), (2, None))
            self.assertEqual((result.area_unit, result.spacing_source), (None, "none"))
            groups = hd.sr.srread(result.sr_path).content.get_planar_roi_measurement_groups()
        identifiers = sorted(g.tracking_identifier for g in groups)
        self.assertEqual(identifiers, ["breast_lesion part 1", "breast_lesion part 2"])
        self.assertTrue(all(_frame_number(g) is None and not g.get_measurements() for g in groups))
        self.assertEqual({g.finding_sites[0].value.value for g in groups}, {"76752008"})  # breast
        self.assertEqual(sorted(_area(g.roi.value) for g in groups), [30.0 * 60, 100.0 * 150 - 400])
        np.testing.assert_array_equal(_raster([g.roi.value for g in groups], 480, 640), label == 1)


if __name__ == "__main__":
    unittest.main()
