# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of the EMA teacher update."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from ignite.engine import Engine

from monai_ext.engines import make_ema_teacher
from monai_ext.handlers import EMATeacherHandler


def test_ssl4mis_alpha_schedule():
    h = EMATeacherHandler(nn.Linear(1, 1), decay=0.99)
    assert [h.alpha(s) for s in (0, 1, 3, 99, 1000)] == pytest.approx([0.0, 0.5, 0.75, 0.99, 0.99])


def test_teacher_follows_student_by_the_formula():
    student = nn.Linear(2, 1, bias=False)
    teacher = make_ema_teacher(student)
    with torch.no_grad():
        student.weight.fill_(1.0)
        teacher.weight.fill_(0.0)
    engine = Engine(lambda e, b: None)
    engine.network = student
    EMATeacherHandler(teacher, decay=0.99).attach(engine)
    engine.run(range(3), max_epochs=1)
    # steps 0, 1, 2: alpha 0, 0.5, 0.667 -> teacher = 1 after step 0 and stays 1 (student constant)
    assert torch.allclose(teacher.weight, torch.ones(1, 2))
    with torch.no_grad():
        student.weight.fill_(3.0)
    engine.state.iteration = 100  # alpha = 0.99 at step 100
    EMATeacherHandler(teacher, decay=0.99)(engine)
    assert torch.allclose(teacher.weight, torch.full((1, 2), 0.99 * 1.0 + 0.01 * 3.0))


def test_bad_arguments():
    with pytest.raises(TypeError):
        EMATeacherHandler("net")
    with pytest.raises(ValueError):
        EMATeacherHandler(nn.Linear(1, 1), decay=1.0)
