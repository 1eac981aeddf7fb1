# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.losses.segfix (SegFix boundary-mask and direction losses)."""

from __future__ import annotations

import math

import pytest
import torch

from monai_ext.losses import USSegFixLoss, inverse_frequency_cross_entropy


def _ce(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def _case():
    """1 x 7 image: pixels 0-2 on the boundary, 3-6 not."""
    boundary_logits = torch.tensor([[0, 2], [0, 1], [0, 3], [0, 0], [1, 0], [2, 0], [0, 0.5]], dtype=torch.float32)
    direction_logits = torch.zeros(7, 8)
    direction_logits[0, 3] = 1.0
    direction_logits[2, 5] = 2.0
    b = torch.tensor([1, 1, 1, 0, 0, 0, 0])
    d = torch.tensor([3, 3, 5, -1, 0, 1, 2])
    as_map = lambda t: t.T.reshape(1, -1, 1, 7)  # noqa: E731  (7, K) -> (1, K, 1, 7)
    return as_map(boundary_logits), as_map(direction_logits), b.reshape(1, 1, 7), d.reshape(1, 1, 1, 7)


def test_segfix_loss_by_hand():
    boundary_logits, direction_logits, b, d = _case()
    loss = USSegFixLoss()
    value = float(loss(boundary_logits, direction_logits, b, d))
    bl = boundary_logits[0, :, 0].T.tolist()
    # boundary frequency 3/7: weights 1 - 4/7 = 3/7 for class 0 and 4/7 for class 1
    w = [3 / 7, 4 / 7]
    ce_b = [_ce(bl[i], t) for i, t in enumerate([1, 1, 1, 0, 0, 0, 0])]
    targets = [1, 1, 1, 0, 0, 0, 0]
    mask = sum(w[t] * c for t, c in zip(targets, ce_b)) / sum(w[t] for t in targets)
    # directions: pixels 0-2 predicted boundary (p > 0.5) and b = 1; pixel 6 is predicted but b = 0
    # classes 3, 3, 5: weights 1 - 2/3 = 1/3 for class 3 and 1 - 1/3 = 2/3 for class 5
    dl = direction_logits[0, :, 0].T.tolist()
    ce_d = [_ce(dl[0], 3), _ce(dl[1], 3), _ce(dl[2], 5)]
    direction = (ce_d[0] / 3 + ce_d[1] / 3 + 2 * ce_d[2] / 3) / (4 / 3)
    assert value == pytest.approx(mask + direction, rel=1e-5)
    assert float(loss.last_terms["mask"]) == pytest.approx(mask, rel=1e-5)
    assert int(loss.last_terms["direction_pixels"]) == 3


def test_only_predicted_boundary_pixels_train_directions():
    boundary_logits, direction_logits, b, d = _case()
    direction_logits = direction_logits.clone().requires_grad_(True)
    boundary_logits = boundary_logits.clone()
    boundary_logits[0, 1, 0, 1] = -1.0  # pixel 1 no longer predicted as boundary
    USSegFixLoss()(boundary_logits, direction_logits, b, d).backward()
    touched = direction_logits.grad[0].abs().sum(0)[0] > 0
    assert touched.tolist() == [True, False, True, False, False, False, False]


def test_empty_selection_and_single_class_do_not_give_nan():
    boundary_logits = torch.zeros(2, 2, 4, 4, requires_grad=True)  # p = 0.5, not > 0.5: no direction pixel
    direction_logits = torch.zeros(2, 8, 4, 4, requires_grad=True)
    b = torch.zeros(2, 1, 4, 4, dtype=torch.long)  # a batch without boundary: 1 - frequency = 0 for class 0
    d = torch.full((2, 1, 4, 4), -1)
    loss = USSegFixLoss()
    value = loss(boundary_logits, direction_logits, b, d)
    assert float(value) == pytest.approx(math.log(2)) and float(loss.last_terms["direction"]) == 0.0
    value.backward()
    assert torch.isfinite(boundary_logits.grad).all() and direction_logits.grad is not None
    single = inverse_frequency_cross_entropy(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    assert float(single) == pytest.approx(math.log1p(math.exp(-1)))


def test_low_resolution_logits_are_resized_and_gradcheck():
    torch.manual_seed(0)
    b = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    b[..., 2:5] = 1
    d = torch.randint(0, 8, (1, 1, 8, 8))
    bl = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    bl[:, 1] += 3.0  # well above the threshold: the selection does not flip under gradcheck's perturbations
    dl = torch.randn(1, 8, 4, 4, dtype=torch.float64, requires_grad=True)
    bl.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: USSegFixLoss()(x, y, b, d), (bl, dl))


def test_errors():
    good = torch.zeros(1, 2, 4, 4), torch.zeros(1, 8, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"boundary_logits must be \(B, 2, h, w\)"):
        USSegFixLoss()(torch.zeros(1, 3, 4, 4), good[1], good[2], good[2])
    with pytest.raises(ValueError, match="must hold 0..7 or ignore_index=-1"):
        USSegFixLoss()(good[0], good[1], good[2], torch.full((1, 4, 4), 9))
    with pytest.raises(ValueError, match="boundary_target must hold 0 and 1"):
        USSegFixLoss()(good[0], good[1], torch.full((1, 4, 4), 2), good[2])
