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


def test_clip_frame_names_and_case_only_differences_collide(tmp_path, clip):
    shutil.copy(clip, tmp_path / "clip.dcm")  # 3 frames: clip_f0000_mask.png .. clip_f0002_mask.png
    _png(tmp_path / "clip_f0001.png")  # would also write clip_f0001_mask.png
    with pytest.raises(ValueError, match=r"clip\.dcm and .*clip_f0001\.png would both write their results as "
                                         r"'clip_f0001_\*'"):
        list_inference_inputs(tmp_path)
    (tmp_path / "clip_f0001.png").rename(tmp_path / "clip_f0003.png")  # not a frame of the clip: no clash
    assert len(list_inference_inputs(tmp_path)) == 4
    _png(tmp_path / "X.png")
    _png(tmp_path / "x.jpg")
    with pytest.raises(ValueError, match=r"'X' and 'x' differ only in case"):
        list_inference_inputs(tmp_path)


def test_non_images_fail_before_anything_runs_naming_the_file(tmp_path):
    from monai_ext.data import USDatasetError

    _png(tmp_path / "a.png")
    (tmp_path / "notes.png").write_text("this is a text file with a .png name")
    with pytest.raises(USDatasetError, match=r"^unreadable image .*notes\.png: cannot identify image file"):
        list_inference_inputs(tmp_path)
    (tmp_path / "notes.png").unlink()
    Image.fromarray(np.zeros((16, 20), np.uint8)).convert("P").save(tmp_path / "palette.png")
    with pytest.raises(USDatasetError, match=r"palette\.png: a palette image"):
        list_inference_inputs(tmp_path)


def test_nifti_inputs_must_be_2d(tmp_path):
    import nibabel as nib

    from monai_ext.data import USDatasetError

    nib.save(nib.Nifti1Image(np.zeros((20, 16, 1), np.uint8), np.eye(4)), tmp_path / "slice.nii.gz")
    assert list_inference_inputs(tmp_path) == [
        {"image": str((tmp_path / "slice.nii.gz").resolve()), "frame": 0, "num_frames": 1}]
    nib.save(nib.Nifti1Image(np.zeros((20, 16, 5), np.uint8), np.eye(4)), tmp_path / "volume.nii")
    with pytest.raises(USDatasetError, match=r"volume\.nii: NIfTI image of shape \(20, 16, 5\); .* 2D images"):
        list_inference_inputs(tmp_path)


def test_our_own_outputs_are_never_inputs(tmp_path, clip):
    """A rerun whose output folder is the input folder skips the previous run's results."""
    from monai.data import MetaTensor
    from monai.transforms import SaveImage

    from monai_ext.io import write_us_contour_sr, write_us_nifti, write_us_seg

    shutil.copy(clip, tmp_path / "clip.dcm")
    _png(tmp_path / "b.png")
    first = list_inference_inputs(tmp_path, output_dir=tmp_path)
    masks = np.zeros((3, 54, 48), np.uint8)
    masks[:, 20:30, 20:30] = 1
    write_us_contour_sr(tmp_path / "clip.dcm", masks, ["lv"], tmp_path / "clip_sr.dcm")
    write_us_seg(tmp_path / "clip.dcm", masks[1], ["lv"], tmp_path / "clip_f0001_seg.dcm", frame_index=1,
                 keyframe_path=tmp_path / "clip_f0001_keyframe.dcm")  # a derived US image: readable as an input
    write_us_nifti(masks, tmp_path / "clip_mask.nii.gz")
    saver = SaveImage(output_dir=str(tmp_path), output_postfix="mask", output_ext=".png", separate_folder=False,
                      output_dtype=np.uint8, writer="monai_ext.io.USAtomicPILWriter", print_log=False)
    saver(MetaTensor(np.zeros((1, 20, 16), np.uint8), meta={"filename_or_obj": str(tmp_path / "b.png")}))
    assert (tmp_path / "b_mask.png").is_file()
    _png(tmp_path / "old_mask.png")  # named like our outputs, from an older version without the marker
    assert list_inference_inputs(tmp_path, output_dir=tmp_path) == first
    # outside the output folder only files that carry our marks are skipped
    listed = [i["image"].rsplit("/", 1)[1] for i in list_inference_inputs(tmp_path, output_dir=tmp_path / "out")]
    assert sorted(set(listed)) == ["b.png", "clip.dcm", "old_mask.png"]
    with pytest.raises(ValueError, match=r"no input images .*\(5 file\(s\) written by monai_ext skipped\)"):
        list_inference_inputs([tmp_path / n for n in ("clip_sr.dcm", "clip_f0001_seg.dcm", "clip_f0001_keyframe.dcm",
                                                      "clip_mask.nii.gz", "b_mask.png")])
