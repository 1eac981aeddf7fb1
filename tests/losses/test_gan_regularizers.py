# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.losses.gan_regularizers (lazy R1 and the StyleGAN2 path-length regulariser)."""

from __future__ import annotations

import math

import pytest
import torch

from monai_ext.losses import USPathLengthRegularizer, r1_penalty


def test_r1_of_a_linear_discriminator_by_hand():
    w = torch.full((1, 2, 2), 0.5, requires_grad=True)
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    out = (x * w).sum((1, 2, 3))  # grad_x = w for every sample, |w|^2 = 1
    penalty = r1_penalty(out, x, gamma=10.0, interval=16)
    assert float(penalty) == pytest.approx(10.0 / 2 * 1.0 * 16)
    penalty.backward()  # create_graph: the penalty trains the discriminator
    assert torch.allclose(w.grad, torch.full((1, 2, 2), 10.0 / 2 * 16 * 2 * 0.5))


def test_r1_multi_scale_uses_the_sum_of_output_means():
    x = torch.tensor([[[[1.0, 2.0]]]], requires_grad=True)
    outputs = [[x * 0.0, x.pow(2)], (3 * x).mean().reshape(1)]  # final maps: x^2 (mean over 2) and mean 3x
    # d/dx [mean(x^2) + mean(3x)] = x + 1.5 -> (2.5, 3.5); gamma/2 * (2.5^2 + 3.5^2)
    assert float(r1_penalty(outputs, x, gamma=2.0)) == pytest.approx(2.5**2 + 3.5**2)
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(x.sum(), x.detach())


def test_path_length_by_hand_and_running_mean():
    torch.manual_seed(0)
    m = torch.randn(3, 2 * 4 * 4, requires_grad=True)
    w = torch.randn(2, 3, requires_grad=True)
    images = (w @ m).reshape(2, 2, 4, 4)
    reg = USPathLengthRegularizer(weight=2.0, interval=4, decay=0.01)
    loss = reg(images, w, generator=torch.Generator().manual_seed(5))
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(5)) / math.sqrt(16)
    lengths = (noise.reshape(2, -1) @ m.detach().T).norm(dim=1)  # |J^T y| with J = m^T
    target = 0.01 * lengths.mean()
    assert torch.allclose(reg.last_path_lengths, lengths, atol=1e-6)
    assert float(reg.mean_path_length) == pytest.approx(float(target), rel=1e-5)
    assert float(loss) == pytest.approx(8.0 * float(((lengths - target) ** 2).mean()), rel=1e-5)
    loss.backward()
    assert m.grad is not None and float(m.grad.abs().sum()) > 0  # create_graph: the penalty trains the generator
    second = reg((w @ m).reshape(2, 2, 4, 4), w, generator=torch.Generator().manual_seed(6))
    assert float(reg.mean_path_length) != pytest.approx(float(target)) and torch.isfinite(second)


def test_path_length_gradient_and_checkpointing():
    lin = torch.nn.Linear(3, 16, bias=False)
    w = torch.randn(4, 2, 3, requires_grad=True)  # (B, num_ws, w_dim): lengths average over num_ws
    reg = USPathLengthRegularizer()
    reg(lin(w).sum(1).reshape(4, 1, 4, 4), w).backward()
    assert lin.weight.grad is not None and float(lin.weight.grad.abs().sum()) > 0
    state = reg.state_dict()
    assert set(state) == {"mean_path_length"} and float(state["mean_path_length"]) > 0
    restored = USPathLengthRegularizer()
    restored.load_state_dict(state)
    assert float(restored.mean_path_length) == float(reg.mean_path_length)
    with pytest.raises(ValueError, match="expected images"):
        reg(torch.zeros(4, 16), w)
