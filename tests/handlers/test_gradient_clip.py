# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""USGradientClipHandler: the gradient norm is clipped between backward and step, and the norm before is logged."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset

from monai_ext.engines import SemiSupervisedTrainer, SupervisedOnlyMethod
from monai_ext.handlers import USGradientClipHandler


def test_clips_to_max_norm_and_records_the_norm_before_clipping():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 2, 1)
    data = [{"image": torch.full((1, 4, 4), 100.0), "label": torch.ones(1, 4, 4)} for _ in range(2)]
    loader = DataLoader(Dataset(data), batch_size=2)
    method = SupervisedOnlyMethod(lambda p, y: 100.0 * p.pow(2).mean())
    seen = {}
    # lr 1 and plain SGD: the step equals the clipped gradient
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    trainer = SemiSupervisedTrainer("cpu", None, loader, None, net, opt, method, max_iterations=1, decollate=False,
                                    train_handlers=[USGradientClipHandler(0.5)])
    before = [p.detach().clone() for p in net.parameters()]

    @trainer.on(Events.ITERATION_COMPLETED)
    def _(engine):
        seen["norm"] = float(engine.state.output["grad_norm"])
        seen["clipped"] = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in net.parameters())))

    trainer.run()
    assert seen["norm"] > 10.0  # the raw gradient is large ...
    assert seen["clipped"] == pytest.approx(0.5, rel=1e-4)  # ... and the step used the clipped one
    step = torch.sqrt(sum((p.detach() - b).pow(2).sum() for p, b in zip(net.parameters(), before)))
    assert float(step) == pytest.approx(0.5, rel=1e-4)


def test_given_parameters_only_and_bad_norm():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    (a(torch.ones(1, 2)).sum() * 100 + b(torch.ones(1, 2)).sum() * 100).backward()
    grad_b = b.weight.grad.clone()

    class _Engine:  # the two attributes the handler reads
        network = a
        optimizer = None
        state = type("S", (), {"output": {}})()

    handler = USGradientClipHandler(1.0, parameters=a.parameters())
    handler(_Engine())
    handler(_Engine())  # the parameters were listed once: a second call still clips them
    assert float(torch.sqrt(a.weight.grad.pow(2).sum() + a.bias.grad.pow(2).sum())) == pytest.approx(1.0, rel=1e-4)
    assert torch.equal(b.weight.grad, grad_b)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        USGradientClipHandler(0.0)
