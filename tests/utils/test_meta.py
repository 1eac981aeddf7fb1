# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.utils.meta: collated metadata values back to Python values."""

from __future__ import annotations

import numpy as np
import torch

from monai_ext.utils import meta_scalar


def test_collated_values_come_back_as_python_values():
    for value in (7, torch.tensor(7), torch.tensor([7]), np.array([7]), [7], (torch.tensor([7]),), [[7]]):
        out = meta_scalar(value)
        assert out == 7 and type(out) is int, value
    assert meta_scalar(torch.tensor([1.5, 2.0])) == [1.5, 2.0]
    assert meta_scalar(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert meta_scalar(["a.dcm"]) == "a.dcm"
    assert meta_scalar([1, 2]) == [1, 2]  # a list of several values is left as it is
    assert meta_scalar(None) is None and meta_scalar("none") == "none"
