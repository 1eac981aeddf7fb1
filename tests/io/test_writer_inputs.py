# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.io.writer_inputs: source headers and mask checks shared by the SEG / SR / key-frame / NIfTI
writers."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
from pydicom.dataset import Dataset

from monai_ext.io import write_phantom_clip
from monai_ext.io.writer_inputs import (
    check_binary_masks,
    check_label_map,
    complete_source_header,
    count_frames,
    masks_to_numpy,
    read_source_header,
    resolve_algorithm_version,
    source_name,
)


def test_read_source_header_copies_without_pixels(tmp_path):
    clip, _ = write_phantom_clip(tmp_path / "clip.dcm", frames=2, size=32, seed=1)
    ds = pydicom.dcmread(clip)
    header = read_source_header(ds)
    assert "PixelData" not in header and "PixelData" in ds  # the source is left as it is
    assert header.SOPInstanceUID == ds.SOPInstanceUID
    assert header.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    header.PatientID = "changed"
    assert ds.PatientID != "changed"  # a deep copy
    from_file = read_source_header(clip)
    assert "PixelData" not in from_file and from_file.SOPInstanceUID == ds.SOPInstanceUID
    assert count_frames(from_file) == 2
    with pytest.raises(FileNotFoundError, match="no such source DICOM file"):
        read_source_header(tmp_path / "gone.dcm")
    (tmp_path / "text.dcm").write_text("not DICOM")
    with pytest.raises(ValueError, match=r"text\.dcm: cannot read the DICOM header"):
        read_source_header(tmp_path / "text.dcm")


def test_complete_source_header_and_names():
    header = Dataset()
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        setattr(header, keyword, "1.2.3")
    header.Rows, header.Columns, header.PatientID = 4, 5, "P1"
    assert complete_source_header(header, "src") is header
    assert header.PatientID == "P1"  # kept
    assert (header.PatientName, header.StudyTime, header.AccessionNumber) == ("", "", "")  # Type 2: present, empty
    del header.Rows
    with pytest.raises(ValueError, match=r"src: the source lacks required attribute\(s\) \['Rows'\]"):
        complete_source_header(header, "src")
    assert source_name("a/b.dcm") == "a/b.dcm" and source_name(Dataset()) == "<dataset>"
    named = Dataset()
    named.filename = "/x/clip.dcm"
    assert source_name(named) == "/x/clip.dcm"
    for value, frames in ((None, 1), ("", 1), ("7", 7), (0, 1)):
        ds = Dataset()
        if value is not None:
            ds.NumberOfFrames = value
        assert count_frames(ds) == frames, value


def test_mask_checks():
    arr = masks_to_numpy(torch.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True), "masks")  # detached
    assert isinstance(arr, np.ndarray) and arr.tolist() == [[0, 1], [1, 0]]
    listed = [[0, 1]]
    assert masks_to_numpy(listed, "masks").tolist() == listed

    labels = np.array([[0, 2], [1, 0]], dtype=np.uint8)
    assert check_label_map(labels, 2, "src") is labels
    assert check_label_map(labels.astype(np.float32), 2, "src").dtype == np.float32  # integers stored as floats
    with pytest.raises(ValueError, match=r"src: label values \[3\] do not name a structure"):
        check_label_map(np.array([[0, 3]]), 2, "src")
    with pytest.raises(ValueError, match="fractional values"):
        check_label_map(np.array([[0.5]]), 2, "src")
    with pytest.raises(TypeError, match="must be integer"):
        check_label_map(np.array([["a"]]), 2, "src")
    binary = check_binary_masks(np.array([[0, 1]], dtype=np.uint8), "src")
    assert binary.dtype == bool and binary.tolist() == [[False, True]]
    with pytest.raises(ValueError, match="must be binary.*fractional"):
        check_binary_masks(np.array([[0.2, 1.0]]), "src")
    assert resolve_algorithm_version("1.2") == "1.2"
    from monai_ext import __version__

    assert resolve_algorithm_version(None) == resolve_algorithm_version("") == __version__
