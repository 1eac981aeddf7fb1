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

"""Tests of monai_ext.transforms.dicom_frames: one frame per item, streamed; invertible region crop; aliases."""

from __future__ import annotations

import shutil
import tempfile
import tracemalloc
import unittest
from pathlib import Path

import numpy as np
import pydicom.data
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Resized
from PIL import Image

from monai_ext.io import UltrasoundDicomReader, write_phantom_clip
from monai_ext.transforms import (
    USLoadImageFrameD,
    USLoadImageFramed,
    USLoadImageFrameDict,
    USRegionCropD,
    USRegionCropd,
    USRegionCropDict,
)

FRAMES, SIZE = 5, 64  # phantom frames are (SIZE + SIZE // 8) rows x SIZE columns


class TestUSLoadImageFramed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "clip.dcm", frames=FRAMES, size=SIZE, seed=4)
        cls.region = [int(v) for v in np.load(cls.tmp / "clip_masks.npz")["region_box"]]
        cls.png = cls.tmp / "a.png"
        Image.fromarray(np.arange(30 * 40, dtype=np.uint32).reshape(30, 40).astype(np.uint8)).save(cls.png)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_frames_match_the_whole_clip_reader(self):
        loader = USLoadImageFramed("image")
        whole, _ = UltrasoundDicomReader(crop_to_region=False).get_data(
            UltrasoundDicomReader(crop_to_region=False).read(str(self.clip))
        )
        self.assertEqual(whole.shape, (1, SIZE, SIZE + SIZE // 8, FRAMES))  # (C, X, Y, T), overlays blanked
        for i in (0, 3, FRAMES - 1):
            out = loader({"image": str(self.clip), "frame": i, "num_frames": FRAMES})
            img = out["image"]
            self.assertIsInstance(img, MetaTensor)
            self.assertEqual(tuple(img.shape), (1, SIZE, SIZE + SIZE // 8))  # full frame (X, Y)
            np.testing.assert_array_equal(img.numpy(), whole[..., i])
            self.assertEqual((img.meta["frame_index"], img.meta["NumberOfFrames"]), (i, FRAMES))
            self.assertEqual(img.meta["region_box"], self.region)
            self.assertEqual(out["num_frames"], FRAMES)
        self.assertEqual(len(loader._overlays), 1)  # the overlay pass ran once for the clip, not per frame

    def test_one_frame_is_decoded_not_the_clip(self):
        path, _ = write_phantom_clip(self.tmp / "long.dcm", frames=40, size=SIZE, seed=5)
        loader = USLoadImageFramed("image")
        loader({"image": str(path), "frame": 0})  # warms the overlay cache
        tracemalloc.start()
        img = loader({"image": str(path), "frame": 31})["image"]
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        frame_bytes = img.numel() * 4
        self.assertLess(peak, 6 * frame_bytes)  # a whole float32 clip would be 40 frames
        self.assertLess(peak, path.stat().st_size)

    def test_png_and_colour_dicom(self):
        loader = USLoadImageFramed("image")
        png = loader({"image": str(self.png), "frame": 0, "num_frames": 1})["image"]
        self.assertEqual(tuple(png.shape), (1, 40, 30))  # PILReader layout (C, X, Y)
        self.assertEqual(float(png[0, 39, 0]), 39.0)
        ybr = pydicom.data.get_testdata_file("examples_ybr_color.dcm")
        img = loader({"image": ybr, "frame": 2})["image"]
        self.assertEqual(tuple(img.shape), (1, 320, 240))
        self.assertEqual(img.meta["region_box"], "none")  # the box of this file lies outside the image
        whole = loader({"image": ybr, "frame": None})["image"]  # frame None on a clip: every frame, time last
        self.assertEqual(tuple(whole.shape), (1, 320, 240, 30))
        np.testing.assert_array_equal(whole[..., 2].numpy(), img.numpy())

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "must not set 'frames'"):
            USLoadImageFramed("image", dicom_options={"frames": 1})
        with self.assertRaisesRegex(ValueError, "overlay_policy"):
            USLoadImageFramed("image", dicom_options={"overlay_policy": "erase"})
        with self.assertRaisesRegex(TypeError, "frame index"):
            USLoadImageFramed("image")({"image": str(self.clip), "frame": "3"})
        with self.assertRaisesRegex(ValueError, "out of range"):
            USLoadImageFramed("image")({"image": str(self.clip), "frame": FRAMES})


class TestUSRegionCropd(unittest.TestCase):
    def _image(self, box, shape=(1, 10, 12), offset=(0, 0)):
        meta = {"region_box": box, "crop_offset": list(offset), "reverse_indexing": True}
        return MetaTensor(torch.arange(float(np.prod(shape))).reshape(shape), meta=meta)

    def test_crop_and_invert_through_a_resize(self):
        box = [2, 3, 7, 10]  # x0, y0, x1, y1 inclusive: 6 columns x 8 rows
        pre = Compose([USRegionCropd("image"), Resized("image", spatial_size=(16, 16))])
        img = self._image(box)
        out = pre({"image": img})["image"]
        self.assertEqual(tuple(out.shape), (1, 16, 16))
        pred = MetaTensor(torch.ones(2, 16, 16))
        pred.applied_operations = out.applied_operations
        inverted = pre.inverse({"image": pred})["image"]
        self.assertEqual(tuple(inverted.shape), (2, 10, 12))  # back to the full frame
        inside = torch.zeros(10, 12, dtype=torch.bool)
        inside[2:8, 3:11] = True
        self.assertTrue(torch.allclose(inverted[:, inside], torch.ones(1)))
        self.assertEqual(float(inverted[:, ~inside].abs().sum()), 0.0)

    def test_crop_values_and_passthrough(self):
        img = self._image([2, 3, 7, 10])
        cropped = USRegionCropd("image")({"image": img})["image"]
        np.testing.assert_array_equal(cropped.numpy(), img.numpy()[:, 2:8, 3:11])
        # already cropped by the reader (crop_offset = box origin): nothing left to crop
        pre_cropped = self._image([2, 3, 7, 10], shape=(1, 6, 8), offset=(2, 3))
        self.assertEqual(tuple(USRegionCropd("image")({"image": pre_cropped})["image"].shape), (1, 6, 8))
        for box in ("none", [0, 0, 40, 40]):  # no region, or one that does not fit: identity
            same = USRegionCropd("image")({"image": self._image(box)})["image"]
            self.assertEqual(tuple(same.shape), (1, 10, 12))


if __name__ == "__main__":
    unittest.main()


def test_nifti_inputs_load_and_unreadable_images_name_the_file(tmp_path):
    import nibabel as nib
    import pytest

    from monai_ext.utils import USInputError

    data = np.arange(20 * 16, dtype=np.uint8).reshape(20, 16)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "slice.nii.gz")
    image = USLoadImageFramed("image")({"image": str(tmp_path / "slice.nii.gz"), "frame": 0})["image"]
    assert image.shape == (1, 20, 16) and np.array_equal(image[0].numpy(), data)  # a PIL reader cannot read NIfTI
    (tmp_path / "gone.png").write_bytes(b"\x89PNG\r\n\x1a\n broken after the listing")
    with pytest.raises(USInputError, match=r"^.*gone\.png: cannot read the image"):
        USLoadImageFramed("image")({"image": str(tmp_path / "gone.png"), "frame": 0})


def test_dicom_options_that_are_flags_are_parsed_strictly(tmp_path):
    import pytest

    clip, _ = write_phantom_clip(tmp_path / "clip.dcm", frames=2, size=SIZE, seed=4)
    full = USLoadImageFramed("image", dicom_options={"crop_to_region": "false"})({"image": str(clip), "frame": 0})
    assert tuple(full["image"].shape) == (1, SIZE, SIZE + SIZE // 8)  # the whole frame: "false" is False
    with pytest.raises(ValueError, match=r"crop_to_region must be true or false .*got 'maybe'"):
        UltrasoundDicomReader(crop_to_region="maybe")


def test_monai_style_aliases():
    assert USLoadImageFrameD is USLoadImageFrameDict is USLoadImageFramed
    assert USRegionCropD is USRegionCropDict is USRegionCropd
