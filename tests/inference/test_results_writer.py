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

"""Tests of monai_ext.inference.results_writer: a real Ignite engine fed with ground-truth label maps of real files."""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pydicom.data
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from scipy import ndimage

from monai_ext.inference import USInferenceResultsWriter, USLoadImageFramed, select_us_keyframes
from monai_ext.io import write_phantom_clip
from tests.fixtures import dciodvfy_errors

FRAMES, SIZE = 5, 64
NAMES = ["lv", "myocardium", "la"]
CODES = {"87878005": 1, "49848007": 2, "82471001": 3}  # SNOMED CT: left ventricle, LV myocardium, left atrium



def _pred(label_hw: np.ndarray, meta: dict) -> MetaTensor:
    """A prediction as the bundle postprocessing leaves it: (1, X, Y) label indices with the image metadata."""
    return MetaTensor(torch.as_tensor(label_hw.T[None].copy()), meta=dict(meta))


def _run(writer: USInferenceResultsWriter, items: list[dict], preds: list[MetaTensor]) -> Engine:
    """Feed decollated (item, output) pairs through a real Ignite engine with the writer attached."""
    engine = Engine(lambda e, batch: [{"pred_index": preds[e.state.iteration - 1]}])
    writer.attach(engine)
    engine.run([[item] for item in items], max_epochs=1)
    return engine


class TestResultsWriterOnClip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "in" / "clip.dcm", frames=FRAMES, size=SIZE, seed=6)
        cls.src = pydicom.dcmread(cls.clip, stop_before_pixels=True)
        loader = USLoadImageFramed("image")
        cls.items = [{"image": str(cls.clip), "frame": i, "num_frames": FRAMES} for i in range(FRAMES)]
        cls.metas = [loader(dict(item))["image"].meta for item in cls.items]
        cls.preds = [_pred(cls.masks[i], cls.metas[i]) for i in range(FRAMES)]
        cls.writer = USInferenceResultsWriter(cls.tmp / "out", NAMES)
        # frame by frame, checking that nothing is written before the clip's last frame
        for i in range(FRAMES - 1):
            assert cls.writer.add(cls.preds[i], cls.items[i]) == []
        source = cls.writer._open[str(cls.clip)]
        cls.stored_shape = source.masks[0].shape
        cls.stored_offset = source.offset
        cls.written = cls.writer.add(cls.preds[-1], cls.items[-1])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_memory_holds_region_crops(self):
        x0, y0, x1, y1 = self.metas[0]["region_box"]
        self.assertEqual(self.stored_shape, (y1 - y0 + 1, x1 - x0 + 1))
        self.assertEqual(self.stored_offset, (x0, y0))
        self.assertEqual(self.writer._open, {})  # closed after its last frame

    def test_written_files(self):
        lv_area = (self.masks == 1).sum(axis=(1, 2))
        keys = sorted({int(np.argmax(lv_area)), int(np.argmin(lv_area))})
        self.assertEqual(len(keys), 2)  # the beating phantom has distinct ED/ES-like frames
        expected = ["clip_sr.dcm"] + [f"clip_f{k:04d}_{kind}.dcm" for k in keys for kind in ("keyframe", "seg")]
        self.assertEqual([p.name for p in self.written], expected)
        self.assertEqual(self.writer.written, self.written)
        self.assertEqual(self.writer.outputs[str(self.clip)], self.written)
        for path in self.written:
            self.assertEqual(dciodvfy_errors(path), [], path.name)

    def test_sr_contours_reference_every_frame(self):
        sr = pydicom.dcmread(self.written[0])
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        self.assertEqual(evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID, self.src.SOPInstanceUID)
        groups = hd.sr.srread(self.written[0]).content.get_planar_roi_measurement_groups()
        n_components = sum(
            ndimage.label(self.masks[t] == k, structure=np.ones((3, 3)))[1] for t in range(FRAMES) for k in (1, 2, 3)
        )
        self.assertEqual(len(groups), n_components)
        frames, labels = set(), set()
        for group in groups:
            ref = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
            self.assertEqual(ref.ReferencedSOPInstanceUID, self.src.SOPInstanceUID)
            frames.add(int(ref.ReferencedFrameNumber))
            labels.add(CODES[group.finding_type.value])
            category = "85756007" if group.finding_type.value == "49848007" else "91723000"  # tissue / anatomy
            self.assertEqual(group.finding_category.value, category)
        self.assertEqual(frames, set(range(1, FRAMES + 1)))
        self.assertEqual(labels, {1, 2, 3})

    def test_keyframe_segs_match_the_masks(self):
        for keyframe_path, seg_path in zip(self.written[1::2], self.written[2::2]):
            k = int(seg_path.name.split("_f")[1][:4])
            keyframe = pydicom.dcmread(keyframe_path, stop_before_pixels=True)
            ref = keyframe.SourceImageSequence[0]
            self.assertEqual(ref.ReferencedSOPInstanceUID, self.src.SOPInstanceUID)
            self.assertEqual(int(ref.ReferencedFrameNumber), k + 1)
            seg = hd.seg.segread(seg_path)
            self.assertEqual(
                [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence], list(CODES)
            )
            self.assertEqual([s.SegmentLabel for s in seg.SegmentSequence], NAMES)
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[keyframe.SOPInstanceUID], combine_segments=True
            )[0]
            np.testing.assert_array_equal(pixels, self.masks[k])

    def test_engine_run_and_incomplete_source_flushed_at_completion(self):
        writer = USInferenceResultsWriter(self.tmp / "engine", NAMES, keyframes=[1], write_nifti=True)
        with self.assertWarnsRegex(UserWarning, "only 2 of 5 frame"):
            _run(writer, self.items[:2], self.preds[:2])
        names = [p.name for p in writer.written]
        self.assertEqual(names, ["clip_sr.dcm", "clip_f0001_keyframe.dcm", "clip_f0001_seg.dcm"])
        groups = hd.sr.srread(writer.written[0]).content.get_planar_roi_measurement_groups()
        frames = {int(g.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedFrameNumber) for g in groups}
        self.assertEqual(frames, {1, 2})
        import nibabel as nib

        nifti = nib.load(writer.outputs[str(self.clip)][-1])
        x0, y0, x1, y1 = self.metas[0]["region_box"]
        self.assertEqual(nifti.shape, (x1 - x0 + 1, y1 - y0 + 1, 1, 2))
        np.testing.assert_array_equal(np.asarray(nifti.dataobj)[..., 0, 1].T, self.masks[1, y0 : y1 + 1, x0 : x1 + 1])

    def test_flags_are_strict(self):
        writer = USInferenceResultsWriter(self.tmp / "flags", NAMES, keyframes="none", write_nifti="false")
        for pred, item in zip(self.preds, self.items):
            writer.add(pred, item)
        self.assertEqual(sorted(p.name for p in (self.tmp / "flags").iterdir()), ["clip_sr.dcm"])  # no NIfTI
        with self.assertRaisesRegex(ValueError, r"write_nifti must be true or false .*got 'sometimes'"):
            USInferenceResultsWriter(self.tmp, NAMES, write_nifti="sometimes")

    def test_a_failing_output_leaves_none_of_the_source_outputs(self):
        import monai_ext.inference.results_writer as module

        original = module.write_us_seg

        def fail(*args, **kwargs):
            raise ValueError("clip.dcm: frame 3 cannot be referenced")

        module.write_us_seg = fail
        try:
            writer = USInferenceResultsWriter(self.tmp / "partial", NAMES, write_nifti=True)
            for pred, item in zip(self.preds[:-1], self.items[:-1]):
                writer.add(pred, item)
            with self.assertRaisesRegex(ValueError, "frame 3 cannot be referenced"):
                writer.add(self.preds[-1], self.items[-1])
        finally:
            module.write_us_seg = original
        # the SR was written first, but not published: no SR, no NIfTI, no temporary file
        self.assertEqual(list((self.tmp / "partial").iterdir()), [])

    def test_outputs_of_another_source_are_never_overwritten(self):
        other = self.tmp / "other" / "clip.dcm"  # same file name in another folder: same output names
        other.parent.mkdir(exist_ok=True)
        shutil.copy(self.clip, other)
        loader = USLoadImageFramed("image")
        writer = USInferenceResultsWriter(self.tmp / "clash", NAMES, keyframes="none")
        for pred, item in zip(self.preds, self.items):
            writer.add(pred, item)
        items = [dict(item, image=str(other)) for item in self.items]
        preds = [_pred(self.masks[i], loader(dict(items[i]))["image"].meta) for i in range(FRAMES)]
        for pred, item in zip(preds[:-1], items[:-1]):
            writer.add(pred, item)
        with self.assertRaisesRegex(ValueError, r"other/clip\.dcm: its output .*clip_sr\.dcm was already written for "
                                                r".*in/clip\.dcm in this run"):
            writer.add(preds[-1], items[-1])

    def test_errors(self):
        writer = USInferenceResultsWriter(self.tmp / "err", NAMES)
        with self.assertRaisesRegex(ValueError, "label index map with values 0..3.*USLabelToMaskd"):
            writer.add(_pred(self.masks[0] * 85, self.metas[0]), self.items[0])
        with self.assertRaisesRegex(ValueError, r"clip\.dcm: the prediction is 64 x 64 .*Invertd"):
            writer.add(_pred(np.zeros((64, 64), np.uint8), self.metas[0]), self.items[0])
        writer.add(self.preds[0], self.items[0])
        with self.assertRaisesRegex(ValueError, "frame 0 was predicted twice"):
            writer.add(self.preds[0], self.items[0])
        with self.assertRaisesRegex(ValueError, "unknown structure 'liver'"):
            USInferenceResultsWriter(self.tmp, ["liver"])
        with self.assertRaisesRegex(ValueError, "keyframes"):
            USInferenceResultsWriter(self.tmp, NAMES, keyframes="middle")
        engine = Engine(lambda e, b: {"pred_index": self.preds[0]})
        USInferenceResultsWriter(self.tmp, NAMES).attach(engine)
        with self.assertRaisesRegex(TypeError, "decollate"):
            engine.run([self.items[0]], max_epochs=1)


class TestResultsWriterOverlapping(unittest.TestCase):
    """``overlapping=True``: one binary mask per structure (MSMO's sigmoids), overlaps kept in SEG, SR and NIfTI."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, labels = write_phantom_clip(cls.tmp / "in" / "clip.dcm", frames=FRAMES, size=SIZE, seed=6)
        # the left ventricle as the whole endocardial blood pool plus wall: overlaps the myocardium everywhere
        cls.masks = np.stack([(labels == 1) | (labels == 2), labels == 2, labels == 3], axis=1).astype(np.uint8)
        loader = USLoadImageFramed("image")
        cls.items = [{"image": str(cls.clip), "frame": i, "num_frames": FRAMES} for i in range(FRAMES)]
        cls.metas = [loader(dict(item))["image"].meta for item in cls.items]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _masks_pred(self, masks_shw: np.ndarray, meta: dict) -> MetaTensor:
        return MetaTensor(torch.as_tensor(masks_shw.transpose(0, 2, 1).copy()), meta=dict(meta))

    def test_clip_keeps_overlaps_in_sr_seg_and_nifti(self):
        self.assertGreater(int((self.masks[:, 0] & self.masks[:, 1]).sum()), 0)
        writer = USInferenceResultsWriter(self.tmp / "out", NAMES, pred_key="pred_masks", overlapping=True,
                                          write_nifti=True)
        outputs = [{"pred_masks": self._masks_pred(self.masks[i], self.metas[i])} for i in range(FRAMES)]
        engine = Engine(lambda e, batch: [outputs[e.state.iteration - 1]])
        writer.attach(engine)
        engine.run([[item] for item in self.items], max_epochs=1)
        # key frames from the area of the first structure's own mask
        lv_area = self.masks[:, 0].sum(axis=(1, 2))
        keys = sorted({int(np.argmax(lv_area)), int(np.argmin(lv_area))})
        expected = ["clip_sr.dcm"] + [f"clip_f{k:04d}_{kind}.dcm" for k in keys for kind in ("keyframe", "seg")]
        self.assertEqual([p.name for p in writer.written], expected)
        for keyframe_path, seg_path in zip(writer.written[1::2], writer.written[2::2]):
            k = int(seg_path.name.split("_f")[1][:4])
            uid = pydicom.dcmread(keyframe_path, stop_before_pixels=True).SOPInstanceUID
            pixels = hd.seg.segread(seg_path).get_pixels_by_source_instance(
                source_sop_instance_uids=[uid], combine_segments=False
            )[0]  # (H, W, segments): each segment its own mask, overlaps included
            np.testing.assert_array_equal(np.moveaxis(pixels, -1, 0), self.masks[k])
        groups = hd.sr.srread(writer.written[0]).content.get_planar_roi_measurement_groups()
        n_components = sum(
            ndimage.label(self.masks[t, s], structure=np.ones((3, 3)))[1] for t in range(FRAMES) for s in range(3)
        )
        self.assertEqual(len(groups), n_components)
        import nibabel as nib

        niftis = [p for p in writer.outputs[str(self.clip)] if p.name.endswith(".nii.gz")]
        self.assertEqual([p.name for p in niftis], [f"clip_{n}_mask.nii.gz" for n in NAMES])
        x0, y0, x1, y1 = self.metas[0]["region_box"]
        for s, path in enumerate(niftis):
            volume = np.asarray(nib.load(path).dataobj)  # (X, Y, 1, T)
            np.testing.assert_array_equal(volume[..., 0, 2].T, self.masks[2, s, y0 : y1 + 1, x0 : x1 + 1])

    def test_errors(self):
        writer = USInferenceResultsWriter(self.tmp / "err", NAMES, overlapping=True)
        with self.assertRaisesRegex(ValueError, r"clip\.dcm: expected \(3, X, Y\) binary masks"):
            writer.add(_pred(self.masks[0, 0], self.metas[0]), self.items[0])  # a label map
        with self.assertRaisesRegex(ValueError, "binary masks.*AsDiscreted"):
            writer.add(self._masks_pred(self.masks[0] * 0.7, self.metas[0]), self.items[0])  # probabilities
        with self.assertRaisesRegex(ValueError, "at most 8 structures"):
            USInferenceResultsWriter(self.tmp, ["lesion"] * 9, overlapping=True)


class TestResultsWriterSingleFrame(unittest.TestCase):
    def test_seg_of_a_single_frame_ultrasound_image(self):
        tmp = Path(tempfile.mkdtemp())
        try:
            path = pydicom.data.get_testdata_file("examples_rgb_color.dcm")  # 240 x 320 RGB, no region
            meta = USLoadImageFramed("image")({"image": path, "frame": 0})["image"].meta
            label = np.zeros((240, 320), dtype=np.uint8)
            label[50:120, 100:180] = 1
            writer = USInferenceResultsWriter(tmp, ["breast_lesion"])
            _run(writer, [{"image": path, "frame": 0, "num_frames": 1}], [_pred(label, meta)])
            written = writer.written
            self.assertEqual([p.name for p in written], ["examples_rgb_color_seg.dcm"])
            self.assertEqual(dciodvfy_errors(written[0]), [])
            seg = hd.seg.segread(written[0])
            segment = seg.SegmentSequence[0]
            self.assertEqual(segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue, "49755003")
            self.assertEqual(segment.SegmentedPropertyTypeCodeSequence[0].CodeValue, "52988006")  # lesion
            self.assertEqual(segment.AnatomicRegionSequence[0].CodeValue, "76752008")  # breast
            uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
            pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[uid], combine_segments=True)[0]
            np.testing.assert_array_equal(pixels, label)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class TestSelectKeyframes(unittest.TestCase):
    def test_policies(self):
        frames, areas = [3, 4, 5, 6], [10, 40, 40, 5]
        self.assertEqual(select_us_keyframes(frames, areas), [4, 6])  # max (first on ties) and min
        self.assertEqual(select_us_keyframes(frames, [7, 7, 7, 7]), [3])
        self.assertEqual(select_us_keyframes(frames, areas, "all"), frames)
        self.assertEqual(select_us_keyframes(frames, areas, "none"), [])
        self.assertEqual(select_us_keyframes(frames, areas, None), [])
        self.assertEqual(select_us_keyframes(frames, areas, [6, 3, 6]), [3, 6])
        with self.assertRaisesRegex(ValueError, r"\[9\] were not predicted"):
            select_us_keyframes(frames, areas, [3, 9])
        with self.assertRaisesRegex(ValueError, "4 frames but 3 areas"):
            select_us_keyframes(frames, areas[:3])


if __name__ == "__main__":
    unittest.main()
