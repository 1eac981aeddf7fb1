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
"""Tests of list_inference_inputs: images, DICOM clips expanded per frame, clear errors for bad DICOM."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate

from monai_ext.data import list_inference_inputs
from monai_ext.data.inference_inputs import output_stem
from monai_ext.io import USDicomError, write_phantom_clip


def _png(path, size=(20, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(size[::-1], dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path, _ = write_phantom_clip(tmp_path_factory.mktemp("clip") / "clip.dcm", frames=3, size=48, seed=1)
    return path


def test_lists_images_and_clip_frames_sorted_and_recursive(tmp_path, clip):
    shutil.copy(clip, tmp_path / "a.dcm")
    _png(tmp_path / "b.png")
    _png(tmp_path / "sub" / "c.jpg")
    (tmp_path / "notes.txt").write_text("x")
    _png(tmp_path / ".hidden.png")
    items = list_inference_inputs(str(tmp_path))
    rel = [(i["image"].replace(str(tmp_path.resolve()), ""), i["frame"], i["num_frames"]) for i in items]
    assert rel == [("/a.dcm", 0, 3), ("/a.dcm", 1, 3), ("/a.dcm", 2, 3), ("/b.png", 0, 1), ("/sub/c.jpg", 0, 1)]
    assert all(set(i) == {"image", "frame", "num_frames"} for i in items)  # same keys: mixed batches collate
    assert list_inference_inputs(str(tmp_path / "b.png")) == [
        {"image": str((tmp_path / "b.png").resolve()), "frame": 0, "num_frames": 1}
    ]


def test_extensionless_dicom_sequences_and_dicomdir(tmp_path, clip):
    shutil.copy(clip, tmp_path / "IM0001")  # PACS exports often have no suffix: found by the DICM preamble
    shutil.copy(clip, tmp_path / "DICOMDIR")  # skipped by name (a directory record, never an image)
    (tmp_path / "README").write_text("not dicom")
    items = list_inference_inputs(tmp_path)
    assert [(i["image"].rsplit("/", 1)[1], i["frame"]) for i in items] == [("IM0001", 0), ("IM0001", 1), ("IM0001", 2)]
    # several sources in order, duplicates dropped, paths made absolute
    _png(tmp_path / "x.png")
    both = list_inference_inputs([tmp_path / "x.png", tmp_path, clip])
    names = [i["image"].rsplit("/", 1)[1] for i in both]
    assert names == ["x.png", "IM0001", "IM0001", "IM0001", "clip.dcm", "clip.dcm", "clip.dcm"]
    whole = list_inference_inputs(clip, expand_frames=False)
    assert whole == [{"image": str(clip.resolve()), "frame": None, "num_frames": 3}]


def test_trimmed_clip_lists_the_trim_range(tmp_path, clip):
    ds = pydicom.dcmread(clip)
    ds.StartTrim, ds.StopTrim = 2, 3  # 1-based, inclusive
    ds.save_as(tmp_path / "trim.dcm")
    assert [(i["frame"], i["num_frames"]) for i in list_inference_inputs(tmp_path / "trim.dcm")] == [(1, 2), (2, 2)]
    assert len(list_inference_inputs(tmp_path / "trim.dcm", use_trim=False)) == 3


def test_bad_dicom_fails_in_the_listing_naming_the_file(tmp_path, clip):
    ds = pydicom.dcmread(clip)
    del ds.PixelData
    ds.save_as(tmp_path / "nopixels.dcm")
    with pytest.raises(USDicomError, match=r"nopixels\.dcm: .*no pixel data"):
        list_inference_inputs(tmp_path)
    (tmp_path / "nopixels.dcm").unlink()

    ds = pydicom.dcmread(clip)
    frames = [ds.pixel_array[i].tobytes() for i in range(int(ds.NumberOfFrames))]
    ds.PixelData = encapsulate(frames)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML  # no pydicom decoder exists for MPEG-2 video
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "mpeg2.dcm")
    with pytest.raises(USDicomError, match=r"mpeg2\.dcm: transfer syntax .* not supported"):
        list_inference_inputs(tmp_path)

    (tmp_path / "mpeg2.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    with pytest.raises(USDicomError, match=r"mpeg2\.dcm: "):
        list_inference_inputs(tmp_path)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_inference_inputs(str(tmp_path / "nope"))
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no input images"):
        list_inference_inputs(str(tmp_path))
    with pytest.raises(ValueError, match="no inference input"):
        list_inference_inputs([])


def test_inputs_whose_outputs_would_collide_are_refused(tmp_path, clip):
    assert [output_stem(n) for n in ("x.png", "x.DCM", "x.nii.gz", "1.2.840.1234", "IM0001")] == [
        "x", "x", "x", "1.2.840.1234", "IM0001"]
    _png(tmp_path / "a" / "x.png")
    _png(tmp_path / "b" / "x.png")  # same name in another folder: both would write x_mask.png
    with pytest.raises(ValueError, match=r"a/x\.png and .*b/x\.png would both write their results as 'x_\*'"):
        list_inference_inputs(tmp_path)
    shutil.copy(clip, tmp_path / "a" / "y.dcm")
    _png(tmp_path / "a" / "y.jpg")  # a DICOM and an image of the same stem
    with pytest.raises(ValueError, match="'y_\\*'"):
        list_inference_inputs(tmp_path / "a")
    assert len(list_inference_inputs([tmp_path / "a" / "x.png", tmp_path / "a" / "y.dcm"])) == 4
