# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.losses.sabr_boundary (the stage-2b total loss of SABR-Net's model C)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from monai_ext.losses import USSABRBoundaryLoss, USSABRSegLoss, USSegFixLoss
from monai_ext.transforms import USSegFixTargets


def _batch():
    torch.manual_seed(0)
    yy, xx = np.mgrid[:32, :32]
    label = torch.as_tensor((((yy - 16) ** 2 + (xx - 14) ** 2) < 64).astype(np.int64))[None, None]
    boundary, direction, _ = USSegFixTargets()(label[0])
    outputs = [
        torch.randn(1, 2, 32, 32, requires_grad=True),
        torch.randn(1, 2, 32, 32, requires_grad=True),
        torch.randn(1, 8, 32, 32, requires_grad=True),
        torch.randn(1, 2, 32, 32, requires_grad=True),
    ]
    return outputs, label, boundary[None], direction[None]


def test_total_is_the_weighted_sum_of_its_parts():
    outputs, label, boundary, direction = _batch()
    loss = USSABRBoundaryLoss()
    total = loss(outputs, label, boundary, direction)
    seg, segfix = USSABRSegLoss(), USSegFixLoss()
    expected = 0.5 * seg(outputs[0], label) + segfix(outputs[1], outputs[2], boundary, direction)
    expected = expected + seg(outputs[3], label)
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    assert set(loss.last_terms) == {"coarse", "segfix", "refined"}
    total.backward()
    assert all(o.grad is not None and float(o.grad.abs().sum()) > 0 for o in outputs)


def test_refined_branch_uses_logits_not_probabilities():
    outputs, label, boundary, direction = _batch()
    loss = USSABRBoundaryLoss(coarse_weight=0.0, segfix_weight=0.0)
    refined = outputs[3]
    value = float(loss(outputs, label, boundary, direction))
    ce = F.cross_entropy(refined, label[:, 0])
    double_softmax = F.cross_entropy(torch.softmax(refined, 1), label[:, 0])
    dice = float(loss.seg_loss.last_terms["dice"])
    assert value == pytest.approx(float(ce) + dice, rel=1e-6)
    assert abs(value - (float(double_softmax) + dice)) > 1e-3


def test_descends_on_free_logits():
    outputs, label, boundary, direction = _batch()
    params = [torch.nn.Parameter(o.detach().clone()) for o in outputs]
    opt = torch.optim.Adam(params, lr=0.1)
    loss = USSABRBoundaryLoss()
    values = []
    for _ in range(25):
        opt.zero_grad()
        value = loss(params, label, boundary, direction)
        value.backward()
        opt.step()
        values.append(float(value))
    assert values[-1] < 0.3 * values[0]


def test_bad_outputs():
    _, label, boundary, direction = _batch()
    with pytest.raises(ValueError, match="must be \\(coarse, boundary, direction, refined\\)"):
        USSABRBoundaryLoss()(torch.zeros(1, 2, 32, 32), label, boundary, direction)
