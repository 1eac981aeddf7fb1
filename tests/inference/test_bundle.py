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

"""Tests of run_bundle_inference: the Mean Teacher bundle's inference.json on a mixed folder (PNG, clip, colour clip).

The network is untrained (``load_pretrain: False``) and tiny; what is checked is the plumbing: streamed frames,
masks back in the source geometry, SR / SEG written, valid and referencing their sources, clear input errors.
"""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pydicom.data
from PIL import Image

from monai_ext.inference import run_bundle_inference
from monai_ext.io import USDicomError, write_phantom_clip
from tests.fixtures import dciodvfy_errors

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "meanteacher_us_segmentation"
TINY = {"load_pretrain": False, "image_size": [48, 48], "features": [4, 8, 16, 32, 64], "task": "cardiac"}
FRAMES, SIZE = 6, 64



def _referenced_frames(ds: pydicom.Dataset, uid: str) -> set[int]:
    """Every ReferencedFrameNumber of ``uid`` anywhere in an SR content tree."""
    frames: set[int] = set()
    for item in ds.get("ContentSequence", []):
        for ref in item.get("ReferencedSOPSequence", []):
            if ref.ReferencedSOPInstanceUID == uid and "ReferencedFrameNumber" in ref:
                frames.update(int(f) for f in np.atleast_1d(np.asarray(ref.ReferencedFrameNumber, dtype=int)))
        frames |= _referenced_frames(item, uid)
    return frames


class TestRunBundleInference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        inputs = cls.tmp / "in"
        cls.clip, _ = write_phantom_clip(inputs / "clip.dcm", frames=FRAMES, size=SIZE, seed=2)
        Image.fromarray(np.full((30, 50), 90, dtype=np.uint8)).save(inputs / "a.png")
        cls.ybr = pydicom.data.get_testdata_file("examples_ybr_color.dcm")  # 30-frame JPEG clip, 240 x 320
        cls.rgb = pydicom.data.get_testdata_file("examples_rgb_color.dcm")  # single frame, 240 x 320
        cls.out = cls.tmp / "out"
        cls.written = run_bundle_inference(BUNDLE, [inputs, cls.ybr, cls.rgb], cls.out, overrides=TINY)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_dicom_outputs(self):
        names = [p.name for p in self.written]
        self.assertEqual(names[0], "clip_sr.dcm")
        self.assertIn("examples_ybr_color_sr.dcm", names)
        self.assertEqual(names[-1], "examples_rgb_color_seg.dcm")
        self.assertTrue(all(p.parent == self.out.resolve() and p.is_file() for p in self.written))
        # key frames: 1 or 2 per clip (ED/ES-like extremes of the first structure), each a derived image + its SEG
        for stem in ("clip", "examples_ybr_color"):
            keys = [n for n in names if n.startswith(f"{stem}_f") and n.endswith("_seg.dcm")]
            self.assertIn(len(keys), (1, 2))
            for n in keys:
                self.assertIn(n.replace("_seg", "_keyframe"), names)
        for path in self.written:
            self.assertEqual(dciodvfy_errors(path), [], path.name)

    def test_sr_references_every_frame_of_its_clip(self):
        for source, stem, n in ((self.clip, "clip", FRAMES), (self.ybr, "examples_ybr_color", 30)):
            uid = pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID
            sr = hd.sr.srread(self.out / f"{stem}_sr.dcm")
            evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
            self.assertEqual(evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID, uid)
            for group in sr.content.get_planar_roi_measurement_groups():
                ref = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
                self.assertEqual(ref.ReferencedSOPInstanceUID, uid)
            # contours, and "absent" groups of structures never found, name the clip frames they cover
            frames = _referenced_frames(sr, uid)
            self.assertEqual(frames, set(range(1, n + 1)))

    def test_png_masks_in_source_geometry(self):
        sizes = {p.name: np.asarray(Image.open(p)).shape for p in self.out.glob("*.png")}
        expected = {"a_mask.png": (30, 50), "examples_rgb_color_mask.png": (240, 320)}
        expected.update({f"clip_f{i:04d}_mask.png": (SIZE + SIZE // 8, SIZE) for i in range(FRAMES)})
        expected.update({f"examples_ybr_color_f{i:04d}_mask.png": (240, 320) for i in range(30)})
        self.assertEqual(sizes, expected)
        # the phantom clip's masks are empty outside its ultrasound region (the crop was inverted, not stretched)
        x0, y0, x1, y1 = (int(v) for v in np.load(self.tmp / "in" / "clip_masks.npz")["region_box"])
        mask = np.asarray(Image.open(self.out / "clip_f0003_mask.png"))
        outside = np.ones_like(mask, dtype=bool)
        outside[y0 : y1 + 1, x0 : x1 + 1] = False
        self.assertEqual(int(mask[outside].max()), 0)
        self.assertTrue(set(np.unique(mask)) <= {0, 1, 2, 3})


class TestRunBundleInferenceErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_bad_dicom_is_named_before_any_frame_runs(self):
        clip, _ = write_phantom_clip(self.tmp / "in" / "clip.dcm", frames=2, size=48, seed=1)
        ds = pydicom.dcmread(clip)
        del ds.PixelData
        ds.save_as(self.tmp / "in" / "broken.dcm")
        with self.assertRaisesRegex(USDicomError, r"broken\.dcm: .*no pixel data"):
            run_bundle_inference(BUNDLE, [self.tmp / "in"], self.tmp / "out", overrides=TINY)
        self.assertEqual(list((self.tmp / "out").iterdir()), [])

    def test_missing_inputs_and_checkpoint(self):
        with self.assertRaisesRegex(FileNotFoundError, "does not exist"):
            run_bundle_inference(BUNDLE, [self.tmp / "nope.dcm"], self.tmp / "out", overrides=TINY)
        with self.assertRaisesRegex(ValueError, "no inputs"):
            run_bundle_inference(BUNDLE, [], self.tmp / "out", overrides=TINY)
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(self.tmp / "a.png")
        with self.assertRaisesRegex(FileNotFoundError, "no checkpoint at .*missing.pt"):
            run_bundle_inference(
                BUNDLE,
                [self.tmp / "a.png"],
                self.tmp / "out",
                overrides={"checkpointloader#load_path": str(self.tmp / "missing.pt")},
            )
        with self.assertRaisesRegex(FileNotFoundError, "no inference config"):
            run_bundle_inference(self.tmp, [self.tmp / "a.png"], self.tmp / "out")


if __name__ == "__main__":
    unittest.main()
