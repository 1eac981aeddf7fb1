# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of USMixedPrecision and of the trainer's `amp` on CPU: bfloat16 autocast, float32 losses, strict flags."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset

from monai_ext.engines import CrossConsistencyMethod, SemiSupervisedTrainer, USMixedPrecision


class _TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        return (self.a(x), self.b(x)) if self.training else self.a(x)


def test_autocast_on_cpu_in_bfloat16_and_disabled_is_float32():
    x, w = torch.rand(4, 8), torch.rand(8, 3)
    with USMixedPrecision(True, "cpu").autocast():
        assert (x @ w).dtype == torch.bfloat16
    with USMixedPrecision("false", "cpu").autocast():
        assert (x @ w).dtype == torch.float32
    amp = USMixedPrecision("true", torch.device("cpu"), "bf16")
    assert amp.enabled and amp.scaler is None and amp.state_dict() == {}


def test_refusals():
    with pytest.raises(ValueError, match="float16 needs a CUDA device"):
        USMixedPrecision(True, "cpu", "float16")
    with pytest.raises(ValueError, match="amp_dtype must be one of"):
        USMixedPrecision(True, "cpu", "int8")
    with pytest.raises(ValueError, match="amp must be true or false.*'maybe'"):
        USMixedPrecision("maybe", "cpu")
    assert not USMixedPrecision(False, "cpu", "float16").enabled  # float16 is only checked when enabled


def _trainer(amp, seen):
    torch.manual_seed(0)
    lab = [{"image": torch.rand(1, 16, 16), "label": (torch.rand(1, 16, 16) > 0.5).float()} for _ in range(8)]
    unl = [{"image": torch.rand(1, 16, 16)} for _ in range(8)]
    net = _TwoHeads()
    net.a.register_forward_hook(lambda m, i, o: seen.append(o.dtype))

    def loss(p, y):
        seen.append(("loss_input", p.dtype))
        return torch.nn.functional.cross_entropy(p, y[:, 0].long())

    return SemiSupervisedTrainer(
        "cpu", None, DataLoader(Dataset(lab), batch_size=2, drop_last=True),
        DataLoader(Dataset(unl), batch_size=2, drop_last=True), net, torch.optim.SGD(net.parameters(), 0.5),
        CrossConsistencyMethod(loss), max_iterations=12, consistency_weight=0.1, amp=amp,
    )


def test_trainer_amp_true_string_runs_forward_in_bfloat16_losses_in_float32_and_learns():
    seen: list = []
    trainer = _trainer("true", seen)
    losses = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(float(e.state.output[0]["loss"])))
    trainer.run()
    assert trainer.amp is True and trainer.scaler is None
    assert torch.bfloat16 in seen and torch.float32 not in seen  # every conv output of the head under autocast
    assert ("loss_input", torch.float32) in seen and ("loss_input", torch.bfloat16) not in seen
    assert sum(losses[-3:]) < sum(losses[:3])
    seen.clear()
    _trainer(False, seen).run()
    assert torch.float32 in seen and torch.bfloat16 not in seen
    with pytest.raises(ValueError, match="amp must be true or false"):
        _trainer("fasle", [])
