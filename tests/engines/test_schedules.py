# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of the poly learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

from monai_ext.engines import PolyLRLambda


def test_poly_factor_set_after_step_and_clamped():
    f = PolyLRLambda(100, power=0.9)
    assert f(0) == 1.0 and f(1) == 1.0
    assert f(51) == pytest.approx(0.5**0.9)
    assert f(101) == 0.0 and f(500) == 0.0


def test_scheduler_runs_past_max_iterations():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, PolyLRLambda(10))
    for _ in range(15):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0
    with pytest.raises(ValueError):
        PolyLRLambda(0)
