# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.losses.sabr_segmentation (temperature CE + squared Dice without background)."""

from __future__ import annotations

import math

import pytest
import torch

from monai_ext.losses import USSABRSegLoss, label_to_one_hot

# two pixels, two classes: pixel 0 logits (2, 0) label 0, pixel 1 logits (0, 1) label 1
LOGITS = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])
LABEL = torch.tensor([[[[0, 1]]]])


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _dice_loss(p: list[float], y: list[float]) -> float:
    inter = sum(a * b for a, b in zip(p, y))
    return 1 - (2 * inter + 1e-5) / (sum(a * a for a in p) + sum(b * b for b in y) + 1e-5)


def test_stage_2a_by_hand():
    loss = USSABRSegLoss(ce_temperature=1.0)
    value = float(loss(LOGITS, LABEL))
    ce = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2
    dice = _dice_loss([_sigmoid(-2), _sigmoid(1)], [0, 1])  # softmax foreground = sigmoid(z1 - z0)
    assert value == pytest.approx(ce + dice, rel=1e-5)  # 0.220095 + 0.055885
    assert float(loss.last_terms["ce"]) == pytest.approx(ce, rel=1e-5)


def test_stage_1_temperature_sharpens_the_ce():
    value = float(USSABRSegLoss(ce_temperature=0.1, dice_weight=0.0)(LOGITS.double(), LABEL))
    assert value == pytest.approx((math.log1p(math.exp(-20)) + math.log1p(math.exp(-10))) / 2, rel=1e-6)


def test_legacy_sigmoid_dice_by_hand_ignores_background():
    loss = USSABRSegLoss(ce_weight=0.0, dice_activation="sigmoid_tau", dice_temperature=0.3)
    expected = _dice_loss([0.5, _sigmoid(1 / 0.3)], [0, 1])  # 0.115101
    assert float(loss(LOGITS, LABEL)) == pytest.approx(expected, rel=1e-5)
    other_background = LOGITS.clone()
    other_background[:, 0] = -7.0
    assert float(loss(other_background, LABEL)) == pytest.approx(expected, rel=1e-5)


def test_targets_are_zero_one_and_one_hot_equals_index():
    loss = USSABRSegLoss()
    label = torch.randint(0, 3, (2, 1, 8, 8))
    perfect = 40.0 * label_to_one_hot(label, 3)
    assert float(loss(perfect, label)) < 1e-4  # {0, 1} Dice targets: a perfect prediction costs nothing
    logits = torch.randn(2, 3, 8, 8)
    assert float(loss(logits, label)) == pytest.approx(float(loss(logits, label_to_one_hot(label, 3))))
    assert float(loss(logits, label[:, 0])) == pytest.approx(float(loss(logits, label)))


def test_gradients_and_descent():
    torch.manual_seed(0)
    loss = USSABRSegLoss(ce_temperature=0.1)
    label = torch.randint(0, 2, (1, 1, 6, 6))
    logits = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: loss(z, label), (logits,))
    z = torch.nn.Parameter(torch.randn(1, 2, 6, 6))
    opt = torch.optim.SGD([z], lr=0.5)
    values = []
    for _ in range(20):
        opt.zero_grad()
        value = loss(z, label)
        value.backward()
        opt.step()
        values.append(float(value))
    assert values[-1] < 0.5 * values[0]


def test_errors():
    with pytest.raises(ValueError, match="C >= 2 classes"):
        USSABRSegLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        USSABRSegLoss()(torch.zeros(1, 2, 4, 4), torch.full((1, 1, 4, 4), 2))
    with pytest.raises(ValueError, match="does not fit logits"):
        USSABRSegLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 5, 5))
    with pytest.raises(ValueError, match="dice_activation must be one of"):
        USSABRSegLoss(dice_activation="sigmoid")
