# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of the semi-supervised method objects."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from monai_ext.engines import (
    CrossConsistencyMethod,
    MeanTeacherMethod,
    SupervisedOnlyMethod,
    make_ema_teacher,
    probabilities,
    unwrap_network,
)


class _Heads(nn.Module):
    """Two 1x1-conv heads: main and one auxiliary, returned as a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Conv2d(1, 2, 1)
        self.aux = nn.Conv2d(1, 2, 1)

    def forward(self, x):
        return self.main(x), self.aux(x)


def _ce(logits, target):
    return nn.functional.cross_entropy(logits, target[:, 0].long())


def test_supervised_only_ignores_unlabeled_and_averages_heads():
    torch.manual_seed(0)
    net = _Heads()
    x_l, y_l = torch.rand(2, 1, 4, 4), torch.randint(0, 2, (2, 1, 4, 4))
    pred, losses = SupervisedOnlyMethod(_ce)(net, x_l, y_l, torch.rand(3, 1, 4, 4), 5.0)
    expected = (_ce(net.main(x_l), y_l) + _ce(net.aux(x_l), y_l)) / 2
    assert pred.shape == (2, 2, 4, 4)
    assert torch.allclose(losses["loss"], expected)
    assert float(losses["loss_cons"]) == 0.0


def test_cross_consistency_is_mse_of_probabilities_on_unlabeled_slice():
    torch.manual_seed(0)
    net = _Heads()
    x_l, y_l, x_u = torch.rand(2, 1, 4, 4), torch.randint(0, 2, (2, 1, 4, 4)), torch.rand(3, 1, 4, 4)
    pred, losses = CrossConsistencyMethod(_ce, activation="softmax")(net, x_l, y_l, x_u, 0.5)
    p_main, p_aux = torch.softmax(net.main(x_u), 1), torch.softmax(net.aux(x_u), 1)
    cons = torch.mean((p_main - p_aux) ** 2)
    sup = (_ce(net.main(x_l), y_l) + _ce(net.aux(x_l), y_l)) / 2
    assert pred.shape == (2, 2, 4, 4)
    assert torch.allclose(losses["loss_cons"], cons, atol=1e-6)
    assert torch.allclose(losses["loss"], sup + 0.5 * cons, atol=1e-6)


def test_cross_consistency_detach_main_blocks_main_gradient_from_consistency():
    torch.manual_seed(0)
    net = _Heads()
    x_u = torch.rand(3, 1, 4, 4)
    method = CrossConsistencyMethod(_ce, detach_main=True, supervise_aux=False)
    _, losses = method(net, torch.rand(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), x_u, 1.0)
    losses["loss_cons"].backward()
    assert net.main.weight.grad is None or float(net.main.weight.grad.abs().sum()) == 0.0
    assert float(net.aux.weight.grad.abs().sum()) > 0.0


def test_cross_consistency_needs_several_heads():
    with pytest.raises(ValueError, match="main, aux"):
        CrossConsistencyMethod(_ce)(nn.Conv2d(1, 2, 1), torch.rand(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), None, 1.0)


def test_mean_teacher_consistency_uses_frozen_teacher_with_noise():
    torch.manual_seed(0)
    student = nn.Conv2d(1, 2, 1)
    teacher = make_ema_teacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    with torch.no_grad():
        teacher.weight.add_(1.0)
    method = MeanTeacherMethod(_ce, teacher, noise_std=0.0, noise_clip=0.0)
    x_l, y_l, x_u = torch.rand(2, 1, 4, 4), torch.randint(0, 2, (2, 1, 4, 4)), torch.rand(3, 1, 4, 4)
    _, losses = method(student, x_l, y_l, x_u, 2.0)
    cons = torch.mean((torch.softmax(student(x_u), 1) - torch.softmax(teacher(x_u), 1)) ** 2)
    assert torch.allclose(losses["loss_cons"], cons, atol=1e-6)
    assert torch.allclose(losses["loss"], _ce(student(x_l), y_l) + 2.0 * cons, atol=1e-6)
    losses["loss"].backward()
    assert teacher.weight.grad is None


def test_probabilities_and_unwrap():
    x = torch.tensor([[[[0.0]], [[0.0]]]])
    assert torch.allclose(probabilities(x, "softmax"), torch.full_like(x, 0.5))
    assert torch.allclose(probabilities(x, "sigmoid"), torch.full_like(x, 0.5))
    with pytest.raises(ValueError):
        probabilities(x, "tanh")
    inner = nn.Linear(1, 1)
    assert unwrap_network(nn.DataParallel(inner)) is inner
    assert unwrap_network(inner) is inner
