# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.losses.inpainting (reconstruction, perceptual and style losses of SABR-Net stage 1)."""

from __future__ import annotations

import pytest
import torch

from monai_ext.losses import (
    USGramStyleLoss,
    USPerceptualL1Loss,
    USReconstructionL1Loss,
    composite_inpainting,
    gram_matrix,
)


def _case():
    generated = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).expand(1, 3, 2, 2).clone().requires_grad_(True)
    image = torch.zeros(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])  # one hole at (0, 1), where the output is 2
    return generated, image, mask


def test_whole_image_mean_is_the_default():
    generated, image, mask = _case()
    loss = USReconstructionL1Loss()(generated, image, mask)
    assert float(loss) == pytest.approx(2.5)  # mean of 1, 2, 3, 4
    loss.backward()
    assert torch.all(generated.grad != 0)  # the visible region is reproduced too


def test_hole_weighted_composites_and_normalises_by_the_hole():
    generated, image, mask = _case()
    loss = USReconstructionL1Loss("hole_weighted")(generated, image, mask)
    assert float(loss) == pytest.approx(2.0)  # the mean error over the hole elements only
    loss.backward()
    g = generated.grad
    assert torch.allclose(g[0, :, 0, 1], torch.full((3,), 1 / 3)) and float(g.abs().sum()) == pytest.approx(1.0)
    composite = composite_inpainting(generated.detach(), image, mask)
    assert torch.equal(composite[0, 0], torch.tensor([[0.0, 2.0], [0.0, 0.0]]))
    no_hole = USReconstructionL1Loss("hole_weighted")(generated, image, torch.ones_like(mask))
    assert float(no_hole) == 0.0
    with pytest.raises(ValueError, match="needs the hole mask"):
        USReconstructionL1Loss("hole_weighted")(generated, image)
    with pytest.raises(ValueError, match="mode must be one of"):
        USReconstructionL1Loss("masked")


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2 channels, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (1 * 2 * 2)
    assert torch.allclose(gram_matrix(f), expected)


def test_style_and_perceptual_losses_by_hand():
    a = [torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]]), torch.ones(1, 1, 2, 2)]
    b = [torch.zeros(1, 2, 1, 2), torch.zeros(1, 1, 2, 2)]
    # Gram(a0) = [[1.25, 2.75], [2.75, 6.25]] -> mean 3.25; Gram(a1) = [[4 / 4]] = 1
    assert float(USGramStyleLoss()(a, b)) == pytest.approx(3.25 + 1.0)
    assert float(USGramStyleLoss(layer_weights=[2.0, 0.0])(a, b)) == pytest.approx(6.5)
    # L1: mean(1, 2, 3, 4) = 2.5 and 1
    assert float(USPerceptualL1Loss()(a, b)) == pytest.approx(3.5)
    with pytest.raises(ValueError, match="feature map 1 has shapes"):
        USPerceptualL1Loss()(a, [b[0], torch.zeros(1, 1, 3, 3)])
    with pytest.raises(ValueError, match="2 layer weights for 1"):
        USGramStyleLoss([1.0, 1.0])(a[:1], b[:1])


def test_style_gradient_reaches_the_generated_features():
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    loss = USGramStyleLoss()([x], [torch.randn(2, 4, 8, 8)]) + USPerceptualL1Loss()([x], [torch.zeros(2, 4, 8, 8)])
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
