# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.losses.adversarial (logistic, hinge and feature-matching losses of SABR-Net stage 1)."""

from __future__ import annotations

import math

import pytest
import torch

from monai_ext.losses import (
    feature_matching_l1_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    logistic_discriminator_loss,
    logistic_generator_loss,
)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_logistic_losses_by_hand():
    real, fake = torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [-1.0]])
    d = logistic_discriminator_loss(real, fake)
    expected = (_softplus(0) + _softplus(-2)) / 2 + (_softplus(0) + _softplus(-1)) / 2
    assert float(d) == pytest.approx(expected, rel=1e-6)  # 0.913242
    assert float(logistic_generator_loss(fake)) == pytest.approx((_softplus(0) + _softplus(1)) / 2, rel=1e-6)


def test_logistic_generator_gradient_pushes_fake_scores_up():
    fake = torch.tensor([-1.0, 0.5], requires_grad=True)
    logistic_generator_loss(fake).backward()
    # d/dx softplus(-x) / 2 = -sigmoid(-x) / 2
    assert torch.allclose(fake.grad, -torch.sigmoid(-fake.detach()) / 2)


def test_hinge_losses_by_hand_over_scales():
    real = [[torch.zeros(1, 4, 2, 2), torch.tensor([0.5, 2.0])], torch.tensor([-1.0])]  # lists: layers, last = final
    fake = [[torch.zeros(1, 4, 2, 2), torch.tensor([-2.0, 0.0])], torch.tensor([0.5])]
    # real: mean relu(1 - x) = 0.25 and 2.0 -> 1.125; fake: mean relu(1 + x) = 0.5 and 1.5 -> 1.0
    assert float(hinge_discriminator_loss(real, fake)) == pytest.approx((1.0 + 1.125) / 2)
    assert float(hinge_generator_loss(fake)) == pytest.approx(-(-1.0 + 0.5) / 2)
    assert float(hinge_generator_loss(torch.tensor([3.0, 1.0]))) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="2 real scales but 1 fake"):
        hinge_discriminator_loss(real, fake[:1])


def test_feature_matching_weights_and_detach():
    fake = [[torch.full((1, 2, 4, 4), float(s + k), requires_grad=True) for k in range(5)] for s in range(3)]
    real = [
        [torch.full((1, 2, 4, 4), float(s + k) + 0.5 * (k + 1), requires_grad=True) for k in range(5)]
        for s in range(3)
    ]
    loss = feature_matching_l1_loss(fake, real, weight=2.0)
    # 3 scales x 4 intermediate layers, |diff| = 0.5 (l + 1), each x 2 / 3: 3 * (2/3) * 0.5 * (1+2+3+4) = 10
    assert float(loss) == pytest.approx(10.0)
    loss.backward()
    assert fake[0][0].grad is not None and float(fake[0][0].grad.abs().sum()) > 0
    assert all(r.grad is None for scale in real for r in scale)  # real features are detached
    assert fake[0][4].grad is None  # the final map is not matched
    with pytest.raises(ValueError, match="need equal, >= 2"):
        feature_matching_l1_loss([[torch.zeros(1)]], [[torch.zeros(1)]])
