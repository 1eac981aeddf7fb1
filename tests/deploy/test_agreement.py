# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Mask rules and Dice of the backend agreement check (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_ext.deploy import binary_dice, logits_to_masks


def test_binary_dice_hand_cases():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert binary_dice(a, b) == 1.0  # both empty: they agree
    a[0, :2] = True  # 2 pixels
    assert binary_dice(a, b) == 0.0
    b[0, 1:4] = True  # 3 pixels, 1 shared
    assert binary_dice(a, b) == pytest.approx(2 * 1 / 5)


def test_softmax_and_sigmoid_rules():
    # softmax output (background + 2 structures): argmax picks one label per pixel
    p = torch.tensor([[[0.6, 0.1]], [[0.3, 0.2]], [[0.1, 0.7]]])  # (3, 1, 2)
    m = logits_to_masks(p, 2)
    assert m.tolist() == [[[False, False]], [[False, True]]]
    # sigmoid outputs (2 structures, no background): independent thresholds, overlaps allowed
    q = torch.tensor([[[0.6, 0.4]], [[0.7, 0.5]]])
    assert logits_to_masks(q, 2).tolist() == [[[True, False]], [[True, False]]]
    with pytest.raises(ValueError, match="4 channels; expected 2 or 3"):
        logits_to_masks(torch.zeros(4, 1, 2), 2)
