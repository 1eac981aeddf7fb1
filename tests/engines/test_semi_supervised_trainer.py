# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of SemiSupervisedTrainer: iteration counting, unlabelled cycling, events, interruption and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset
from monai.engines import IterationEvents

from monai_ext.engines import CrossConsistencyMethod, SemiSupervisedTrainer, SupervisedOnlyMethod


class _TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        return (self.a(x), self.b(x)) if self.training else self.a(x)


def _loaders(n_lab=6, n_unl=5, bs=2, ubs=2):
    torch.manual_seed(0)
    lab = [{"image": torch.rand(1, 8, 8), "label": (torch.rand(1, 8, 8) > 0.5).float()} for _ in range(n_lab)]
    unl = [{"image": torch.rand(1, 8, 8)} for _ in range(n_unl)]
    return (DataLoader(Dataset(lab), batch_size=bs, shuffle=True, drop_last=True),
            DataLoader(Dataset(unl), batch_size=ubs, shuffle=True, drop_last=True))


def _ce(p, y):
    return torch.nn.functional.cross_entropy(p, y[:, 0].long())


def test_runs_max_iterations_cycles_unlabeled_and_fires_events():
    loader, unlabeled = _loaders()
    net = _TwoHeads()
    trainer = SemiSupervisedTrainer("cpu", None, loader, unlabeled, net, torch.optim.SGD(net.parameters(), 0.1),
                                    CrossConsistencyMethod(_ce), max_iterations=7, consistency_weight=0.5)
    fired, epochs, outputs = [], [], []
    for ev in (IterationEvents.FORWARD_COMPLETED, IterationEvents.LOSS_COMPLETED,
               IterationEvents.BACKWARD_COMPLETED, IterationEvents.MODEL_COMPLETED):
        trainer.add_event_handler(ev, lambda e, ev=ev: fired.append(ev))
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: epochs.append(e.state.iteration))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(e.state.output[0]))
    trainer.run()
    assert trainer.state.max_epochs == 3  # ceil(7 / 3)
    assert trainer.state.iteration == 7
    assert epochs == [3, 6, 7]  # the last, partial epoch still completes (validation and checkpoint run)
    assert fired[:4] == [IterationEvents.FORWARD_COMPLETED, IterationEvents.LOSS_COMPLETED,
                         IterationEvents.BACKWARD_COMPLETED, IterationEvents.MODEL_COMPLETED]
    assert len(fired) == 28
    assert trainer._unlabeled_pass == 4  # 2 batches per pass, 7 iterations
    out = outputs[-1]
    assert {"image", "label", "pred", "loss", "loss_sup", "loss_cons", "cons_weight"} <= set(out)
    assert out["pred"].shape == (2, 8, 8) and out["cons_weight"] == 0.5


def test_loss_decreases_on_a_learnable_task():
    torch.manual_seed(0)
    images = [torch.rand(1, 8, 8) for _ in range(8)]
    lab = [{"image": x, "label": (x > 0.5).float()} for x in images]
    loader = DataLoader(Dataset(lab), batch_size=4, shuffle=True, drop_last=True)
    net = torch.nn.Conv2d(1, 2, 1)
    losses = []
    trainer = SemiSupervisedTrainer("cpu", None, loader, None, net, torch.optim.SGD(net.parameters(), 0.5),
                                    SupervisedOnlyMethod(_ce), max_iterations=60)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(float(e.state.output[0]["loss"])))
    trainer.run()
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_clear_errors_for_empty_loaders():
    loader, _ = _loaders(n_lab=1, bs=2)
    net = torch.nn.Conv2d(1, 2, 1)
    with pytest.raises(ValueError, match="labelled data loader yields no batch"):
        SemiSupervisedTrainer("cpu", None, loader, None, net, torch.optim.SGD(net.parameters(), 0.1),
                              SupervisedOnlyMethod(_ce), max_iterations=3)
    loader, unlabeled = _loaders(n_unl=1, ubs=2)
    trainer = SemiSupervisedTrainer("cpu", None, loader, unlabeled, net, torch.optim.SGD(net.parameters(), 0.1),
                                    SupervisedOnlyMethod(_ce), max_iterations=3)
    with pytest.raises(ValueError, match="unlabelled data loader yields no batch"):
        trainer.run()


def test_killed_run_resumes_at_the_same_iteration(tmp_path: Path):
    worker = Path(__file__).with_name("resume_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parents[2]))
    ckpt, log1, log2, ref = tmp_path / "ckpt", tmp_path / "first.jsonl", tmp_path / "second.jsonl", tmp_path / "ref.jsonl"
    proc = subprocess.Popen([sys.executable, str(worker), str(ckpt), str(log1), "--hang-at", "8"], env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            rows = log1.read_text().splitlines() if log1.exists() else []
            if len(rows) >= 8:
                break
            assert proc.poll() is None, "the training worker exited early"
            time.sleep(0.2)
        else:
            pytest.fail("the training worker did not reach iteration 8")
        os.kill(proc.pid, signal.SIGKILL)  # a hard kill: no handler gets to save anything
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = sorted(p.name for p in ckpt.glob("*.pt"))
    assert len(saved) == 1 and saved[0].endswith("_iteration=6.pt"), saved  # n_saved=1: the one at iteration 6
    subprocess.run([sys.executable, str(worker), str(ckpt), str(log2), "--resume"], env=env, check=True, timeout=300)
    subprocess.run([sys.executable, str(worker), str(tmp_path / "ref_ckpt"), str(ref)], env=env, check=True, timeout=300)
    resumed = [json.loads(r) for r in log2.read_text().splitlines()]
    reference = {r["iteration"]: r for r in map(json.loads, ref.read_text().splitlines())}
    assert [r["iteration"] for r in resumed] == list(range(7, 13))  # continues after the last checkpoint (6)
    for r in resumed:  # same ramp-up weight and learning rate as an uninterrupted run
        assert r["weight"] == pytest.approx(reference[r["iteration"]]["weight"])
        assert r["lr"] == pytest.approx(reference[r["iteration"]]["lr"])
