# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""A tiny SABR-Net stage-1 run used by test_sabr_pretrainer (run as a script, killed mid-way, resumed).

Checkpoints every 3 iterations with everything the bundle's pretrain.json checkpoints: the generator, both
discriminators, the EMA copy, the four optimisers, the path-length state and the learning-rate schedule.

Usage: python sabr_resume_worker.py CKPT_DIR LOG_FILE [--resume] [--hang-at N]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from ignite.engine import Events
from monai.handlers import LrScheduleHandler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sabr_tiny import build  # noqa: E402

from monai_ext.engines import SABRGeneratorLRLambda  # noqa: E402
from monai_ext.handlers import ResumableCheckpointHandler  # noqa: E402

MAX_ITERATIONS = 10


def run(ckpt_dir: str, log_file: str, resume: bool = False, hang_at: int | None = None) -> None:
    """Train MAX_ITERATIONS iterations (or resume), logging one JSON row per iteration to ``log_file``."""
    trainer, parts = build(MAX_ITERATIONS, d_reg_every=4, pl_interval=3)
    schedule = torch.optim.lr_scheduler.LambdaLR(parts["generator_optimizer"], SABRGeneratorLRLambda(2, 12, 0.1))
    LrScheduleHandler(schedule, epoch_level=False, print_lr=False).attach(trainer)
    objects = {k: v for k, v in parts.items() if k != "perceptual_encoder"}
    objects["generator_lr_scheduler"] = schedule
    ResumableCheckpointHandler(ckpt_dir, objects, save_interval=3, resume=resume).attach(trainer)

    @trainer.on(Events.ITERATION_COMPLETED)
    def _log(engine):
        out = engine.state.output[0]
        row = {"iteration": engine.state.iteration, "loss": float(out["loss"]), "r1_applied": out["r1_applied"],
               "lr": parts["generator_optimizer"].param_groups[0]["lr"]}
        with open(log_file, "a") as f:
            f.write(json.dumps(row) + "\n")
        if hang_at is not None and engine.state.iteration == hang_at:
            time.sleep(600)  # the test kills the process here

    trainer.run()


def main() -> None:
    hang_at = int(sys.argv[sys.argv.index("--hang-at") + 1]) if "--hang-at" in sys.argv else None
    run(sys.argv[1], sys.argv[2], "--resume" in sys.argv, hang_at)


if __name__ == "__main__":
    main()
