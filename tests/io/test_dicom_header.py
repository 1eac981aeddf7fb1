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
"""Tests of monai_ext.io.dicom_header: geometry, truncation and region problems are found in the header pass, with
the file and the attribute named, before any frame is decoded."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from monai_ext.data import list_inference_inputs
from monai_ext.io import USDicomError, USRegionWarning, drop_us_regions_outside, read_us_header, write_phantom_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    native, _ = write_phantom_clip(root / "native.dcm", frames=3, size=48, seed=1)
    jpeg, _ = write_phantom_clip(root / "jpeg.dcm", frames=3, size=48, seed=1, jpeg=True)
    return native, jpeg


def _edit(src, dst, **attributes):
    ds = pydicom.dcmread(src)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(dst)
    return dst


def test_good_clips_pass(clips):
    for path in clips:
        header = read_us_header(path)
        assert (header.n_frames, header.rows, header.columns) == (3, 54, 48)


def test_frame_count_and_image_size_are_checked_against_the_pixel_data(clips, tmp_path):
    native, _ = clips
    zero = _edit(native, tmp_path / "zero.dcm", NumberOfFrames=0)
    with pytest.raises(USDicomError, match=r"zero\.dcm: NumberOfFrames \(0028,0008\) is 0: it must be a whole"):
        read_us_header(zero)
    with pytest.raises(USDicomError, match=r"zero\.dcm: NumberOfFrames"):
        list_inference_inputs(tmp_path)  # the listing fails before any frame (before: a crash inside highdicom)
    zero.unlink()
    more = _edit(native, tmp_path / "more.dcm", NumberOfFrames=5)
    with pytest.raises(USDicomError, match=r"more\.dcm: Pixel Data \(7FE0,0010\) holds 7776 bytes but NumberOfFrames "
                                           r"\(0028,0008\) x Rows .* = 5 x 54 x 48 x 1 x 8 / 8 needs 12960"):
        read_us_header(more)
    rows = _edit(native, tmp_path / "rows.dcm", Rows=60)
    with pytest.raises(USDicomError, match=r"rows\.dcm: .* = 3 x 60 x 48 x 1 x 8 / 8 needs 8640"):
        read_us_header(rows)
    columns = _edit(native, tmp_path / "columns.dcm", Columns=0)
    with pytest.raises(USDicomError, match=r"columns\.dcm: Columns \(0028,0011\) is 0"):
        read_us_header(columns)


def test_encapsulated_frames_are_counted_without_decoding(clips, tmp_path):
    _, jpeg = clips
    more = _edit(jpeg, tmp_path / "more.dcm", NumberOfFrames=4)
    with pytest.raises(USDicomError, match=r"more\.dcm: the Basic Offset Table of Pixel Data \(7FE0,0010\) lists 3 "
                                           r"frame\(s\) but NumberOfFrames \(0028,0008\) is 4"):
        read_us_header(more)
    ds = pydicom.dcmread(jpeg)
    frames = [f for f in pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=3)]
    ds.PixelData = encapsulate(frames, has_bot=False)
    ds.NumberOfFrames = 4
    ds.save_as(tmp_path / "nobot.dcm")
    with pytest.raises(USDicomError, match=r"nobot\.dcm: Pixel Data \(7FE0,0010\) holds 3 fragment\(s\), fewer than "
                                           r"NumberOfFrames \(0028,0008\) = 4"):
        read_us_header(tmp_path / "nobot.dcm")
    data = jpeg.read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:-700])
    with pytest.raises(USDicomError, match=r"cut\.dcm: Pixel Data \(7FE0,0010\): .*truncated"):
        read_us_header(tmp_path / "cut.dcm")


def test_truncated_files_are_called_truncated(clips, tmp_path):
    native, _ = clips
    data = native.read_bytes()
    (tmp_path / "400.dcm").write_bytes(data[:400])  # before: "not an ultrasound image"
    with pytest.raises(USDicomError, match=r"400\.dcm: truncated or not a complete DICOM file: the data set ends "
                                           r"after 400 bytes"):
        read_us_header(tmp_path / "400.dcm")
    (tmp_path / "pixels.dcm").write_bytes(data[:-100])  # before: accepted, failing when the last frame is decoded
    with pytest.raises(USDicomError, match=r"pixels\.dcm: truncated: Pixel Data \(7FE0,0010\) declares 7776 bytes "
                                           r"but the file ends 7676 bytes after its start"):
        read_us_header(tmp_path / "pixels.dcm")
    (tmp_path / "text.dcm").write_text("not a DICOM file at all")
    with pytest.raises(USDicomError, match=r"text\.dcm: not a DICOM Part 10 file"):
        read_us_header(tmp_path / "text.dcm")


def test_decompression_bomb_sized_frames_are_refused(clips, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(USDicomError, match=r"Rows x Columns = 54 x 48 = 2592 pixels per frame exceeds the "
                                           r"decompression-bomb limit of 1000"):
        read_us_header(clips[0])


def test_region_outside_the_image_warns_and_is_not_copied(clips, tmp_path):
    native, _ = clips
    ds = pydicom.dcmread(native)
    ds.SequenceOfUltrasoundRegions.append(copy.deepcopy(ds.SequenceOfUltrasoundRegions[0]))
    ds.SequenceOfUltrasoundRegions[1].RegionLocationMaxY1 = 200  # the image has 54 rows
    ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 = 48  # one past the last column: clamped, kept
    ds.save_as(tmp_path / "regions.dcm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header = read_us_header(tmp_path / "regions.dcm")
    messages = [str(w.message) for w in caught if issubclass(w.category, USRegionWarning)]
    assert len(messages) == 1 and "item 2 has the box (x0, y0, x1, y1) = (0, 7, 47, 200) outside the 54 x 48" in (
        messages[0]
    )
    assert header.region.box == [0, 7, 47, 53] and header.spacing_source == "region"
    derived = pydicom.dcmread(tmp_path / "regions.dcm")
    assert drop_us_regions_outside(derived) == [1]
    assert len(derived.SequenceOfUltrasoundRegions) == 1
    assert derived.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 == 47
    del derived.SequenceOfUltrasoundRegions[0].RegionLocationMaxY1
    derived.SequenceOfUltrasoundRegions[0].RegionLocationMinY0 = 99
    assert drop_us_regions_outside(derived) == [0] and "SequenceOfUltrasoundRegions" not in derived
    assert np.array_equal(derived.pixel_array, pydicom.dcmread(native).pixel_array)
