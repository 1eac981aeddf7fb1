# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The method contract of SemiSupervisedTrainer: iteration context, every loss entry in the output, `attach`, method
state in the resumable checkpoints; and UA-MT, which needs all of it and no trainer edit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from ignite.engine import Events
from monai.data import DataLoader, Dataset
from monai.engines import IterationEvents

from monai_ext.engines import SemiSupervisedTrainer, UncertaintyMeanTeacherMethod, USIterationContext
from monai_ext.engines.methods import MeanTeacherMethod, sigmoid_rampup
from monai_ext.handlers import ResumableCheckpointHandler, latest_checkpoint


def _loaders(n=6):
    torch.manual_seed(0)
    lab = [{"image": torch.rand(1, 8, 8), "label": (torch.rand(1, 8, 8) > 0.5).float(), "extra": torch.tensor(i)}
           for i in range(n)]
    unl = [{"image": torch.rand(1, 8, 8)} for _ in range(n)]
    return (DataLoader(Dataset(lab), batch_size=2, drop_last=True),
            DataLoader(Dataset(unl), batch_size=2, drop_last=True))


class _Recording:
    """A method that records its contexts, returns extra loss entries and attaches its own handler."""

    def __init__(self) -> None:
        self.contexts: list[USIterationContext] = []
        self.events: list[str] = []

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: self.events.append("method"))

    def __call__(self, network, x_l, y_l, x_u, weight, context=None):
        self.contexts.append(context)
        logits = network(torch.cat([x_l, x_u]))
        loss = nn.functional.cross_entropy(logits[: len(x_l)], y_l[:, 0].long())
        return logits[: len(x_l)], {"loss": loss, "mask_ratio": loss * 0 + 0.25, "note": 7}


def test_context_extra_entries_and_attach_order():
    loader, unlabeled = _loaders()
    net = nn.Conv2d(1, 2, 3, padding=1)
    method = _Recording()

    class _Handler:
        def attach(self, engine):
            engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: method.events.append("config"))

    trainer = SemiSupervisedTrainer("cpu", None, loader, unlabeled, net, torch.optim.SGD(net.parameters(), 0.1), method,
                                    max_iterations=5, train_handlers=[_Handler()])
    outputs = []
    trainer.add_event_handler(IterationEvents.LOSS_COMPLETED, lambda e: outputs.append(dict(e.state.output)))
    trainer.run()
    assert [c.iteration for c in method.contexts] == [1, 2, 3, 4, 5]
    assert [c.epoch for c in method.contexts] == [1, 1, 1, 2, 2]
    assert {c.max_iterations for c in method.contexts} == {5} and {c.epoch_length for c in method.contexts} == {3}
    assert all(set(c.labeled_batch) >= {"image", "label", "extra"} for c in method.contexts)
    assert all(c.unlabeled_batch is not None for c in method.contexts)
    assert method.contexts[0].progress == 0.0 and method.contexts[-1].progress == pytest.approx(0.8)
    # the method's own handler was attached before the configured ones
    assert method.events[:2] == ["method", "config"] and len(method.events) == 10
    # every entry reaches the output, detached; loss_sup / loss_cons default to the total and 0
    out = outputs[0]
    assert float(out["mask_ratio"]) == 0.25 and out["note"] == 7 and not out["mask_ratio"].requires_grad
    assert float(out["loss_cons"]) == 0.0 and float(out["loss_sup"]) == pytest.approx(float(out["loss"]))


def test_method_without_loss_is_refused():
    loader, unlabeled = _loaders()
    net = nn.Conv2d(1, 2, 3, padding=1)
    trainer = SemiSupervisedTrainer("cpu", None, loader, unlabeled, net, torch.optim.SGD(net.parameters(), 0.1),
                                    lambda *a, **k: (net(a[1]), {"total": net(a[1]).sum()}), max_iterations=1)
    with pytest.raises(KeyError, match="returned no 'loss'"):
        trainer.run()


def test_mean_teacher_owns_teacher_updates_it_and_checkpoints_it(tmp_path):
    loader, unlabeled = _loaders()
    net = nn.Conv2d(1, 2, 3, padding=1)
    method = MeanTeacherMethod(nn.CrossEntropyLoss(), student=net, ema_decay=0.99, noise_std=0.0)
    assert method.teacher is not net and all(not p.requires_grad for p in method.teacher.parameters())
    before = [p.clone() for p in method.teacher.parameters()]
    ce = lambda p, y: nn.functional.cross_entropy(p, y[:, 0].long())  # noqa: E731
    method.loss_function = ce
    trainer = SemiSupervisedTrainer(
        "cpu", None, loader, unlabeled, net, torch.optim.SGD(net.parameters(), 0.5), method, max_iterations=4,
        train_handlers=[ResumableCheckpointHandler(str(tmp_path), {"model": net}, save_interval=2)],
    )
    trainer.run()
    # the EMA update ran: the teacher moved towards the student (iteration 1 copies it: alpha = 0)
    assert any(not torch.equal(a, b) for a, b in zip(before, method.teacher.parameters()))
    saved = torch.load(latest_checkpoint(tmp_path), weights_only=True)
    assert set(saved) >= {"model", "trainer", "method"}
    for k, v in method.teacher.state_dict().items():
        assert torch.equal(saved["method"]["teacher"][k], v)
    with pytest.raises(TypeError, match="give the teacher or the student"):
        MeanTeacherMethod(ce)


def test_uamt_threshold_schedule_and_masked_consistency_by_hand():
    ln2 = math.log(2.0)
    method = UncertaintyMeanTeacherMethod(lambda p, y: p.sum() * 0, teacher=nn.Identity(), noise_std=0.0)
    assert method.threshold(None) == pytest.approx(0.75 * ln2)
    assert method.threshold(USIterationContext(iteration=1, max_iterations=100)) == pytest.approx(
        (0.75 + 0.25 * math.exp(-5.0)) * ln2)
    assert method.threshold(USIterationContext(iteration=101, max_iterations=100)) == pytest.approx(ln2)
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    # the teacher is the identity on 2-channel "logits": pixel 0 certain (logits 10, -10), pixel 1 uncertain (0, 0)
    x_u = torch.tensor([[[[10.0, 0.0]], [[-10.0, 0.0]]]])  # (1, 2, 1, 2)
    entropy = method.uncertainty(x_u)
    assert entropy[0, 0, 0, 0] < 0.01 and entropy[0, 0, 0, 1] == pytest.approx(ln2 - 2e-6, abs=1e-5)
    student = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        student.weight.zero_()  # student softmax = (0.5, 0.5) everywhere
    x_l, y_l = torch.zeros(1, 2, 1, 2), torch.zeros(1, 1, 1, 2)
    _, losses = method(student, x_l, y_l, x_u, weight=1.0, context=USIterationContext(iteration=1, max_iterations=10))
    # only pixel 0 is kept: sum over 2 channels of (0.5 - p)^2 with p = softmax(10, -10) ~ (1, 0), over 2 * 1 pixel
    p = torch.softmax(torch.tensor([10.0, -10.0]), 0)
    assert float(losses["mask_ratio"]) == 0.5
    assert float(losses["loss_cons"]) == pytest.approx(float(((0.5 - p) ** 2).sum() / 2), rel=1e-5)
    with pytest.raises(ValueError, match="even"):
        UncertaintyMeanTeacherMethod(lambda p, y: p, teacher=nn.Identity(), mc_samples=3)
