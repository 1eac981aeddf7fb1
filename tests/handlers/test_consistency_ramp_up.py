# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of the consistency ramp-up."""

from __future__ import annotations

import math

import pytest
from ignite.engine import Engine

from monai_ext.handlers import ConsistencyRampUpHandler, consistency_ramp_weight


def test_sigmoid_ramp_matches_ssl4mis_formula():
    # MGCC/MSMO: 7 * exp(-5 (1 - s/200)^2), s = iteration // 150
    for it in (0, 149, 150, 15000, 29999, 30000, 40000):
        s = min(it // 150, 200)
        assert consistency_ramp_weight(it, 7.0, 200, 150) == pytest.approx(7.0 * math.exp(-5 * (1 - s / 200) ** 2))
    assert consistency_ramp_weight(30000, 7.0, 200, 150) == pytest.approx(7.0)
    assert consistency_ramp_weight(0, 7.0, 200, 150) == pytest.approx(7.0 * math.exp(-5))


def test_linear_constant_and_delay():
    assert consistency_ramp_weight(50, 1.0, 100, 1, mode="linear") == pytest.approx(0.5)
    assert consistency_ramp_weight(500, 1.0, 100, 1, mode="linear") == pytest.approx(1.0)
    assert consistency_ramp_weight(3, 0.3, 100, mode="constant") == pytest.approx(0.3)
    assert consistency_ramp_weight(999, 0.1, 200, 150, delay=1000) == 0.0
    assert consistency_ramp_weight(1000, 0.1, 200, 150, delay=1000) > 0.0


def test_handler_sets_engine_and_state_from_iteration():
    seen = []
    engine = Engine(lambda e, b: seen.append((e.state.iteration, e.consistency_weight, e.state.consistency_weight)))
    ConsistencyRampUpHandler(max_weight=1.0, ramp_length=4, step_size=1, mode="linear").attach(engine)
    engine.run(range(6), max_epochs=1)
    assert [w for _, w, _ in seen] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert all(a == b for _, a, b in seen)


@pytest.mark.parametrize("kwargs", [{"max_weight": -1, "ramp_length": 1}, {"max_weight": 1, "ramp_length": 1, "step_size": 0},
                                    {"max_weight": 1, "ramp_length": 1, "mode": "cosine"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ConsistencyRampUpHandler(**kwargs)
