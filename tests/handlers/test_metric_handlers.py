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

"""Tests of monai_ext.handlers.metric_handlers on a bare ignite Engine and a MONAI SupervisedEvaluator."""

from __future__ import annotations

import csv
import math

import monai.handlers
import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedEvaluator
from monai.handlers import IgniteMetricHandler, MetricsSaver, from_engine
from monai.transforms import AsDiscreted

from monai_ext.handlers.metric_handlers import USDiceHandler, USHD95Handler, USIoUHandler

DIAG_8 = 8 * math.sqrt(2)


def square(r0, r1, c0, c1):
    m = torch.zeros(8, 8)
    m[r0:r1, c0:c1] = 1
    return m


EMPTY = torch.zeros(8, 8)
G = square(2, 6, 2, 6)
SHIFT = square(2, 6, 3, 7)  # Dice 0.75, IoU 0.6, HD95 1 px against G

# three images, two structures (a, b); per-image Dice a: [0.75, 1 (both empty), 1], b: [0 (missed), 1, 0 (FP)]
PAIRS = [
    (torch.stack([SHIFT, EMPTY]), torch.stack([G, G])),
    (torch.stack([EMPTY, G]), torch.stack([EMPTY, G])),
    (torch.stack([G, G]), torch.stack([G, EMPTY])),
]


def decollated_engine():
    """Engine whose output is a decollated batch (list of dicts), batches of 2 then 1 image."""
    batches = [PAIRS[:2], PAIRS[2:]]

    def step(engine, batch):
        return [{"pred": p, "label": y} for p, y in batch]

    return Engine(step), batches


def test_names_and_base_class():
    for cls in (USDiceHandler, USIoUHandler, USHD95Handler):
        assert issubclass(cls, IgniteMetricHandler)
        assert not hasattr(monai.handlers, cls.__name__)


def test_handlers_on_engine():
    engine, data = decollated_engine()
    ot = from_engine(["pred", "label"])
    USDiceHandler(output_transform=ot).attach(engine, "val_mean_dice")
    USDiceHandler(structure=1, output_transform=ot).attach(engine, "val_dice_b")
    USIoUHandler(reduction="mean_batch", output_transform=ot).attach(engine, "val_iou")
    USHD95Handler(spacing=0.5, output_transform=ot).attach(engine, "val_hd95")
    USHD95Handler(output_transform=ot, save_details=False).attach(engine, "val_hd95_px")
    engine.run(data, max_epochs=1)
    m = engine.state.metrics
    assert m["val_mean_dice"] == pytest.approx((0.75 + 1 + 1 + 0 + 1 + 0) / 6)
    assert m["val_dice_b"] == pytest.approx(1 / 3)
    np.testing.assert_allclose(m["val_iou"].numpy(), [(0.6 + 1 + 1) / 3, 1 / 3], rtol=1e-6)
    assert m["val_hd95_px"] == pytest.approx((1 + 0 + 0 + DIAG_8 + 0 + DIAG_8) / 6)
    assert m["val_hd95"] == pytest.approx(0.5 * m["val_hd95_px"])
    details = engine.state.metric_details
    assert details["val_mean_dice"].shape == (3, 2)
    assert details["val_dice_b"].shape == (3, 1)
    np.testing.assert_allclose(details["val_dice_b"][:, 0].numpy(), [0.0, 1.0, 0.0])
    assert "val_hd95_px" not in details


def test_update_compute_like_monai_tests():
    engine = Engine(lambda e, b: None)
    h = USDiceHandler(structure=0)
    h.attach(engine, "dice")
    h.update([torch.stack([p for p, _ in PAIRS]), torch.stack([y for _, y in PAIRS])])
    assert h.compute() == pytest.approx((0.75 + 1 + 1) / 3)
    with pytest.raises(ValueError, match="length 2"):
        h.update([torch.zeros(1, 1, 8, 8)])


def test_hd95_handler_reads_label_meta_spacing():
    engine = Engine(
        lambda e, b: [
            {"pred": SHIFT[None], "label": MetaTensor(G[None], meta={"spacing": [2.0, 0.5]})},
            {"pred": EMPTY[None], "label": MetaTensor(G[None], meta={"spacing": [0.5, 0.5]})},
        ]
    )
    h = USHD95Handler(reduction="none", output_transform=from_engine(["pred", "label"]))
    h.attach(engine, "hd95")
    engine.run([0], max_epochs=1)
    np.testing.assert_allclose(engine.state.metrics["hd95"].numpy(), [0.5, 0.5 * DIAG_8], rtol=1e-5)
    assert h.metric_fn.unit == "mm"


def test_supervised_evaluator_with_metrics_saver(tmp_path):
    items = [
        {
            "image": MetaTensor(p * 0.9, meta={"filename_or_obj": f"/data/images/p{i:04d}_00.png"}),
            "label": MetaTensor(y, meta={"filename_or_obj": f"/data/masks/p{i:04d}_00.png"}),
        }
        for i, (p, y) in enumerate(PAIRS)
    ]
    loader = DataLoader(Dataset(items), batch_size=2, num_workers=0)
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=torch.nn.Identity(),
        postprocessing=AsDiscreted(keys="pred", threshold=0.5),
        key_val_metric={"val_mean_dice": USDiceHandler(output_transform=from_engine(["pred", "label"]))},
        additional_metrics={"val_hd95": USHD95Handler(output_transform=from_engine(["pred", "label"]))},
        val_handlers=[
            MetricsSaver(
                save_dir=str(tmp_path),
                metrics="*",
                metric_details=["val_mean_dice"],
                batch_transform=lambda batch: [b["image"].meta for b in batch],
            )
        ],
    )
    evaluator.run()
    assert evaluator.state.metrics["val_mean_dice"] == pytest.approx(3.75 / 6)
    assert evaluator.state.best_metric == pytest.approx(3.75 / 6)
    with open(tmp_path / "val_mean_dice_raw.csv") as f:
        rows = list(csv.reader(f, delimiter=","))
    assert len(rows) == 1 + 3  # header + one row per image
    assert rows[1][0].endswith("p0000_00.png")
    assert [float(v) for v in rows[1][1:3]] == pytest.approx([0.75, 0.0])
    assert [float(v) for v in rows[3][1:3]] == pytest.approx([1.0, 0.0])
