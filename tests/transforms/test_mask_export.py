# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of USLabelToMask(d)."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from monai_ext.transforms import USLabelToMask, USLabelToMaskd


def test_maps_label_indices_to_gray_values():
    index = MetaTensor(torch.tensor([[[0, 1], [2, 3]]]), meta={"filename_or_obj": "x.png"})
    out = USLabelToMask({"lv": [1], "myocardium": [2], "la": [3]})(index)
    assert out.dtype == torch.uint8 and out.tolist() == [[[0, 1], [2, 3]]]
    assert out.meta["filename_or_obj"] == "x.png"
    binary = USLabelToMaskd("pred", {"lesion": [255]})({"pred": torch.tensor([[[0, 1]]])})
    assert binary["pred"].tolist() == [[[0, 255]]]


def test_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        USLabelToMask({"lesion": [255]})(torch.tensor([[[2]]]))
