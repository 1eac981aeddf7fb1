# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""A small semi-supervised training run used by test_semi_supervised_trainer (run as a script, killed mid-way).

Usage: python resume_worker.py CKPT_DIR LOG_FILE [--resume] [--hang-at N]
"""

from __future__ import annotations

import json
import sys
import time

import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset
from monai.handlers import CheckpointLoader, CheckpointSaver, LrScheduleHandler

from monai_ext.engines import MeanTeacherMethod, PolyLRLambda, SemiSupervisedTrainer, make_ema_teacher
from monai_ext.handlers import ConsistencyRampUpHandler, EMATeacherHandler, latest_checkpoint

MAX_ITERATIONS = 12


def build(ckpt_dir: str, resume: bool):
    torch.manual_seed(0)
    labeled = [{"image": torch.rand(1, 16, 16), "label": (torch.rand(1, 16, 16) > 0.5).float()} for _ in range(6)]
    unlabeled = [{"image": torch.rand(1, 16, 16)} for _ in range(5)]
    loader = DataLoader(Dataset(labeled), batch_size=2, shuffle=True, drop_last=True)
    unlabeled_loader = DataLoader(Dataset(unlabeled), batch_size=2, shuffle=True, drop_last=True)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    teacher = make_ema_teacher(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, PolyLRLambda(MAX_ITERATIONS))
    loss = lambda p, y: torch.nn.functional.cross_entropy(p, y[:, 0].long())  # noqa: E731
    method = MeanTeacherMethod(loss, teacher)
    handlers = [
        ConsistencyRampUpHandler(1.0, MAX_ITERATIONS, 1, mode="linear"),
        LrScheduleHandler(sched, epoch_level=False, print_lr=False),
        EMATeacherHandler(teacher),
    ]
    trainer = SemiSupervisedTrainer("cpu", None, loader, unlabeled_loader, net, opt, method,
                                    max_iterations=MAX_ITERATIONS, train_handlers=handlers)
    objects = {"model": net, "teacher": teacher, "optimizer": opt, "lr_scheduler": sched, "trainer": trainer}
    if resume:
        CheckpointLoader(latest_checkpoint(ckpt_dir), objects).attach(trainer)
    CheckpointSaver(ckpt_dir, objects, file_prefix="checkpoint", save_interval=3, epoch_level=False,
                    n_saved=1).attach(trainer)
    return trainer


def main() -> None:
    ckpt_dir, log_file = sys.argv[1], sys.argv[2]
    resume = "--resume" in sys.argv
    hang_at = int(sys.argv[sys.argv.index("--hang-at") + 1]) if "--hang-at" in sys.argv else None
    trainer = build(ckpt_dir, resume)

    @trainer.on(Events.ITERATION_COMPLETED)
    def _log(engine):
        out = engine.state.output[0]
        row = {"iteration": engine.state.iteration, "weight": out["cons_weight"],
               "lr": engine.optimizer.param_groups[0]["lr"]}
        with open(log_file, "a") as f:
            f.write(json.dumps(row) + "\n")
        if hang_at is not None and engine.state.iteration == hang_at:
            time.sleep(600)  # the test kills the process here

    trainer.run()


if __name__ == "__main__":
    main()
