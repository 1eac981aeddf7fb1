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

"""Tests of monai_ext.inference.dicom_frames: output names of clip frames; the moved transforms' old import path."""

from __future__ import annotations

import unittest

import torch

import monai_ext.transforms
from monai_ext.inference import USLoadImageFramed, USRegionCropd, us_frame_name_formatter


class TestFrameNames(unittest.TestCase):
    def test_names(self):
        clip = {"filename_or_obj": "/d/clip.dcm", "SOPInstanceUID": "1.2", "NumberOfFrames": 120, "frame_index": 7}
        self.assertEqual(us_frame_name_formatter(clip, None)["subject"], "/d/clip_f0007.dcm")
        tensor_meta = dict(clip, NumberOfFrames=torch.tensor(120), frame_index=torch.tensor([12]))
        self.assertEqual(us_frame_name_formatter(tensor_meta, None)["subject"], "/d/clip_f0012.dcm")
        single = {"filename_or_obj": "/d/1.2.840.5", "SOPInstanceUID": "1.2", "NumberOfFrames": 1, "frame_index": 0}
        self.assertEqual(us_frame_name_formatter(single, None)["subject"], "/d/1.2.840.5.dcm")
        self.assertEqual(us_frame_name_formatter({"filename_or_obj": "/d/a.png"}, None)["subject"], "/d/a.png")
        # a DICOM file carrying an image suffix is named as the collision check of list_inference_inputs names it
        jpg_named = {"filename_or_obj": "/d/us.JPG", "SOPInstanceUID": "1.2", "NumberOfFrames": 4, "frame_index": 3}
        self.assertEqual(us_frame_name_formatter(jpg_named, None)["subject"], "/d/us_f0003.dcm")


def test_the_frame_transforms_stay_importable_from_inference():
    # shipped configs of older bundles name monai_ext.inference.USLoadImageFramed / USRegionCropd
    assert USLoadImageFramed is monai_ext.transforms.USLoadImageFramed
    assert USRegionCropd is monai_ext.transforms.USRegionCropd


if __name__ == "__main__":
    unittest.main()
