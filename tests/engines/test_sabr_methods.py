# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""SABR-Net's stage-2a and stage-2b method objects under the method contract and in SemiSupervisedTrainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset

from monai_ext.engines import SABRBoundaryMethod, SABRFinetuneMethod, SemiSupervisedTrainer, USIterationContext
from monai_ext.handlers import USGradientClipHandler
from monai_ext.losses import USSABRSegLoss
from monai_ext.networks.nets import SABRGenerator, SABRSegmentationNet
from monai_ext.transforms import USSegFixTargetsd

TINY_G = {"img_size": 32, "dim": 8, "num_heads": 2, "depths": (1, 1, 1, 1, 1), "z_dim": 16, "w_dim": 16,
          "mapping_layers": 2}
TINY_C = {"dim": 8, "num_heads": 2, "depths": (1, 1, 1), "decoder_channels": 8, "head_channels": 8}


def _discs(n: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    yy, xx = np.mgrid[:size, :size]
    labels = np.stack([((yy - 16) ** 2 + (xx - 14 - 2 * i) ** 2 < 70).astype(np.float32)[None] for i in range(n)])
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, size, size, generator=g) * 0.2 - 0.6 + torch.as_tensor(labels)  # bright discs
    return images, torch.as_tensor(labels)


def test_finetune_method_is_ce_plus_dice_at_temperature_1_on_unmasked_images():
    torch.manual_seed(0)
    g = SABRGenerator(**TINY_G).train()
    x, y = _discs()
    calls = []
    g.encoder.register_forward_pre_hook(lambda m, args: calls.append(args[1] if len(args) > 1 else None))
    logits, losses = SABRFinetuneMethod()(g, x, y, None, 0.0, USIterationContext())
    assert calls == [None]  # the generator is called without a hole mask
    assert logits.shape == (2, 2, 32, 32) and losses["loss"].requires_grad
    ref = USSABRSegLoss(ce_temperature=1.0)
    assert losses["loss"].item() == pytest.approx(ref(logits, y).item(), rel=1e-6)
    assert losses["loss"].item() == pytest.approx((losses["loss_ce"] + losses["loss_dice"]).item(), rel=1e-6)
    ce = torch.nn.functional.cross_entropy(logits, y[:, 0].long())
    assert losses["loss_ce"].item() == pytest.approx(ce.item(), rel=1e-6)


def test_finetune_in_the_trainer_with_gradient_clipping_learns():
    torch.manual_seed(0)
    g = SABRGenerator(**TINY_G)
    x, y = _discs(4)
    data = [{"image": x[i], "label": y[i]} for i in range(4)]
    loader = DataLoader(Dataset(data), batch_size=4, shuffle=False, drop_last=True)
    opt = torch.optim.Adam(g.parameters(), lr=3e-3, betas=(0.0, 0.99 ** 0.8))
    norms, losses = [], []
    trainer = SemiSupervisedTrainer("cpu", None, loader, None, g, opt, SABRFinetuneMethod(), max_iterations=25,
                                    train_handlers=[USGradientClipHandler(5.0)], decollate=False)

    @trainer.on(Events.ITERATION_COMPLETED)
    def _(engine):
        norms.append(float(engine.state.output["grad_norm"]))
        losses.append(float(engine.state.output["loss"].detach()))

    trainer.run()
    assert len(norms) == 25 and all(n > 0 for n in norms)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def _boundary_batch(n: int = 2):
    x, y = _discs(n)
    targets = [USSegFixTargetsd("label")({"label": y[i]}) for i in range(n)]
    return x, y, {
        "segfix_boundary": torch.stack([torch.as_tensor(t["segfix_boundary"]) for t in targets]),
        "segfix_direction": torch.stack([torch.as_tensor(t["segfix_direction"]) for t in targets]),
    }


def test_boundary_method_reads_the_pipeline_targets_and_sums_the_three_terms():
    torch.manual_seed(0)
    net = SABRSegmentationNet(**TINY_C).train()
    x, y, batch = _boundary_batch()
    refined, losses = SABRBoundaryMethod()(net, x, y, None, 0.0, USIterationContext(labeled_batch=batch))
    assert refined.shape == (2, 2, 32, 32) and losses["loss"].requires_grad
    total = 0.5 * losses["loss_coarse"] + losses["loss_segfix"] + losses["loss_refined"]
    assert losses["loss"].item() == pytest.approx(total.item(), rel=1e-5)
    assert losses["loss_segfix"].item() == pytest.approx(
        (losses["loss_segfix_mask"] + losses["loss_segfix_direction"]).item(), rel=1e-5)
    assert losses["segfix_direction_pixels"] >= 0
    losses["loss"].backward()
    assert all(p.grad is None for p in net.encoder.parameters())  # frozen encoder
    assert all(p.grad is not None for p in net.heads.parameters())


def test_boundary_method_names_missing_targets():
    net = SABRSegmentationNet(**TINY_C).train()
    x, y, _ = _boundary_batch()
    with pytest.raises(KeyError, match="add monai_ext.transforms.USSegFixTargetsd"):
        SABRBoundaryMethod()(net, x, y, None, 0.0, USIterationContext(labeled_batch={"image": x}))


def test_boundary_method_with_eri_refinement_needs_no_targets():
    torch.manual_seed(0)
    net = SABRSegmentationNet(**TINY_C, boundary_refinement="eri").train()
    x, y, _ = _boundary_batch()
    refined, losses = SABRBoundaryMethod()(net, x, y, None, 0.0, USIterationContext())
    assert refined.shape == (2, 2, 32, 32)
    assert losses["loss"].item() == pytest.approx(
        (0.5 * losses["loss_coarse"] + losses["loss_refined"]).item(), rel=1e-5)
    assert "loss_segfix" not in losses
