# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of structure_metric_handlers."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine

from monai_ext.handlers import structure_metric_handlers


def test_names_and_values_per_structure():
    handlers = structure_metric_handlers(["lv", "myocardium", "la"], prefix="val_")
    assert set(handlers) == {"val_mean_iou", "val_mean_hd95"} | {
        f"val_{m}_{s}" for m in ("dice", "iou", "hd95") for s in ("lv", "myocardium", "la")}
    assert set(structure_metric_handlers(["lesion"])) == {"val_dice_lesion", "val_iou_lesion", "val_hd95_lesion"}
    pred = torch.zeros(3, 8, 8)
    label = torch.zeros(3, 8, 8)
    pred[0, 2:4, 2:4] = 1  # lv: 4 px predicted, 8 px true, 4 overlap -> dice 2*4/12
    label[0, 2:4, 2:6] = 1
    label[2, 0, 0] = 1  # la missed -> dice 0
    engine = Engine(lambda e, b: [{"pred": pred, "label": label}])
    for name, h in handlers.items():
        h.attach(engine, name)
    engine.run([0], max_epochs=1)
    m = engine.state.metrics
    assert m["val_dice_lv"] == pytest.approx(2 / 3)
    assert m["val_iou_lv"] == pytest.approx(0.5)
    assert m["val_dice_myocardium"] == 1.0 and m["val_hd95_myocardium"] == 0.0  # both empty
    assert m["val_dice_la"] == 0.0 and m["val_hd95_la"] == pytest.approx((8**2 + 8**2) ** 0.5)
    assert m["val_mean_iou"] == pytest.approx((0.5 + 1 + 0) / 3)
    with pytest.raises(ValueError):
        structure_metric_handlers([])
