# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Tests for monai_ext.engines.cosine_schedule (docs/methods/msmo.md, "Training protocol": per-epoch cosine, periodic
public variant)."""

from __future__ import annotations

import math
import unittest

import torch
from ignite.engine import Engine, Events

from monai_ext.engines import COSINE_SCHEDULES, CosineLRHandler, cosine_lr_scheduler


def _optimizer(lr: float = 0.01) -> torch.optim.SGD:
    return torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)


def _run(schedule: str, epochs: int, epoch_length: int, lr: float, eta_min: float, t_max_epochs: int | None = None):
    """The learning rate each iteration runs with (read at ITERATION_STARTED), on a bare Engine."""
    opt = _optimizer(lr)
    sched = cosine_lr_scheduler(opt, schedule, epochs=t_max_epochs or epochs, eta_min=eta_min)
    engine = Engine(lambda e, b: None)
    CosineLRHandler(sched, schedule).attach(engine)
    seen: list[float] = []
    engine.add_event_handler(Events.ITERATION_STARTED, lambda e: seen.append(opt.param_groups[0]["lr"]))
    engine.run(range(epoch_length), max_epochs=epochs)
    return seen, engine, sched


class TestCosineEpoch(unittest.TestCase):
    def test_hand_computed_per_epoch(self):
        # lr0 0.011, eta_min 0.001, T_max 4 epochs of 3 iterations: 0.001 + 0.005 * (1 + cos(pi * e / 4))
        seen, _, _ = _run("cosine_epoch", epochs=4, epoch_length=3, lr=0.011, eta_min=0.001)
        expected = [0.011, 0.0095355339, 0.006, 0.0024644661]
        self.assertEqual(len(seen), 12)
        for k, value in enumerate(seen):
            self.assertAlmostEqual(value, expected[k // 3], places=9, msg=f"iteration {k}")

    def test_msmo_values(self):
        # MSMO: lr 0.01 -> 1e-5 over 300 epochs; epoch 150 runs with (0.01 + 1e-5) / 2, epoch 299 with ~1.03e-5
        seen, engine, sched = _run("cosine_epoch", epochs=300, epoch_length=1, lr=0.01, eta_min=1e-5)
        self.assertAlmostEqual(seen[0], 0.01, places=12)
        self.assertAlmostEqual(seen[150], 0.005005, places=9)
        # epoch 299: 1e-5 + 0.00999 * (1 + cos(299 pi / 300)) / 2 = 1e-5 + 0.00999 * 2.7414e-5 = 1.02739e-5
        self.assertAlmostEqual(seen[299], 1e-5 + 0.00999 * 0.5 * (1 + math.cos(299 * math.pi / 300)), places=12)
        self.assertAlmostEqual(seen[299], 1.02739e-5, places=10)
        self.assertEqual(sched.T_max, 300)
        self.assertEqual(sched.last_epoch, 300)  # one step per epoch, none per iteration

    def test_warns_on_t_max_mismatch(self):
        with self.assertLogs(level="WARNING") as logs:
            _run("cosine_epoch", epochs=2, epoch_length=1, lr=0.01, eta_min=0.0, t_max_epochs=5)
        self.assertTrue(any("T_max=5" in m and "max_epochs=2" in m for m in logs.output))

    def test_resume_state(self):
        opt = _optimizer()
        sched = cosine_lr_scheduler(opt, "cosine_epoch", epochs=10)
        for _ in range(4):
            opt.step()
            sched.step()
        opt2 = _optimizer()
        sched2 = cosine_lr_scheduler(opt2, "cosine_epoch", epochs=10)
        opt2.load_state_dict(opt.state_dict())
        sched2.load_state_dict(sched.state_dict())
        opt.step(), sched.step(), opt2.step(), sched2.step()
        self.assertAlmostEqual(opt2.param_groups[0]["lr"], opt.param_groups[0]["lr"], places=15)
        # epoch 5 of 10: half way, (0.01 + 1e-5) / 2
        self.assertAlmostEqual(opt2.param_groups[0]["lr"], 0.005005, places=9)


class TestCosineIterT300(unittest.TestCase):
    def test_public_periodic_schedule(self):
        # the public schedule (docs/methods/msmo.md, "Training protocol"): iteration 0 -> 0.01, 150 -> 0.005, 300 ->
        # 1e-5, 600 -> 0.01, 900 -> 1e-5
        seen, _, sched = _run("cosine_iter_t300", epochs=1, epoch_length=901, lr=0.01, eta_min=1e-5)
        self.assertEqual(sched.T_max, 300)
        for it, value in ((0, 0.01), (150, 0.005005), (300, 1e-5), (450, 0.005005), (600, 0.01), (900, 1e-5)):
            self.assertAlmostEqual(seen[it], value, places=8, msg=f"iteration {it}")


class TestArguments(unittest.TestCase):
    def test_names(self):
        self.assertEqual(COSINE_SCHEDULES, ("cosine_epoch", "cosine_iter_t300"))

    def test_bad_args(self):
        opt = _optimizer()
        with self.assertRaisesRegex(ValueError, "schedule must be one of"):
            cosine_lr_scheduler(opt, "poly")
        with self.assertRaisesRegex(ValueError, "epochs must be a positive int"):
            cosine_lr_scheduler(opt, epochs=0)
        with self.assertRaisesRegex(ValueError, "eta_min"):
            cosine_lr_scheduler(opt, eta_min=-1.0)
        with self.assertRaisesRegex(TypeError, "CosineAnnealingLR"):
            CosineLRHandler(torch.optim.lr_scheduler.StepLR(opt, 1))
        with self.assertRaisesRegex(ValueError, "schedule must be one of"):
            CosineLRHandler(cosine_lr_scheduler(opt), "cosine")


if __name__ == "__main__":
    unittest.main()
