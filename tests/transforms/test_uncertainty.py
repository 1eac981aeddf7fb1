# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.transforms.uncertainty: the split of the decoder-disagreement channel off a prediction."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from monai_ext.inference import USSplitUncertaintyd as InferenceUSSplitUncertaintyd
from monai_ext.transforms import USSplitUncertaintyD, USSplitUncertaintyd, USSplitUncertaintyDict


def test_split_moves_the_last_channel():
    pred = MetaTensor(torch.arange(3 * 4.0).view(3, 2, 2), meta={"filename_or_obj": "a.png"})
    d = USSplitUncertaintyd("pred")({"pred": pred})
    assert d["pred"].shape == (2, 2, 2) and d["uncertainty"].shape == (1, 2, 2)
    torch.testing.assert_close(d["uncertainty"].as_tensor(), pred[2:].as_tensor())
    assert d["uncertainty"].meta["filename_or_obj"] == "a.png"
    with pytest.raises(ValueError, match="no uncertainty channel"):
        USSplitUncertaintyd("pred")({"pred": torch.zeros(1, 2, 2)})


def test_aliases_and_the_old_import_path():
    assert USSplitUncertaintyD is USSplitUncertaintyDict is USSplitUncertaintyd is InferenceUSSplitUncertaintyd
