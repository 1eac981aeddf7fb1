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

"""Tests of monai_ext.handlers.metric_report.USMetricsReportHandler on ignite engine runs."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor

from monai_ext.handlers.metric_report import USMetricsReportHandler

DIAG_8 = 8 * math.sqrt(2)


def square(r0, r1, c0, c1):
    m = torch.zeros(8, 8)
    m[r0:r1, c0:c1] = 1
    return m


EMPTY = torch.zeros(8, 8)
G = square(2, 6, 2, 6)
SHIFT = square(2, 6, 3, 7)  # Dice 0.75, IoU 0.6, HD95 1 px against G
# structures (lv, la). Dice lv: [0.75, 1, 1], la: [0 missed, 1, 0 false positive]
PAIRS = [
    (torch.stack([SHIFT, EMPTY]), torch.stack([G, G])),
    (torch.stack([EMPTY, G]), torch.stack([EMPTY, G])),
    (torch.stack([G, G]), torch.stack([G, EMPTY])),
]


def meta_engine(spacing=None):
    """Decollated outputs (list of dicts) with MetaTensor predictions/labels carrying file names (and spacing)."""

    def item(i):
        p, y = PAIRS[i]
        lmeta = {"filename_or_obj": f"/d/masks/p{i:04d}_00.png"}
        if spacing is not None:
            lmeta.update(spacing=spacing, spacing_source="region")
        return {
            "pred": MetaTensor(p, meta={"filename_or_obj": f"/d/images/p{i:04d}_00.png"}),
            "label": MetaTensor(y, meta=lmeta),
        }

    return Engine(lambda e, batch: [item(i) for i in batch]), [[0, 1], [2]]


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_report_files_metrics_and_reset(tmp_path, capsys):
    engine, data = meta_engine()
    handler = USMetricsReportHandler(tmp_path / "eval", ["lv", "la"], filename_prefix="test_", grid="256")
    handler.attach(engine)
    engine.run(data, max_epochs=2)  # the second epoch must not double the counts
    m = engine.state.metrics
    assert m["dice_lv"] == pytest.approx(2.75 / 3) and m["dice_la"] == pytest.approx(1 / 3)
    assert m["dice_present_lv"] == pytest.approx((0.75 + 1) / 2)  # images 0 and 2 have lv
    assert m["dice_present_la"] == pytest.approx((0 + 1) / 2)  # images 0 (missed) and 1
    assert m["iou_lv"] == pytest.approx(2.6 / 3)
    assert m["hd95_lv"] == pytest.approx(1 / 3) and m["hd95_la"] == pytest.approx(2 * DIAG_8 / 3)
    assert m["mean_dice"] == pytest.approx((2.75 / 3 + 1 / 3) / 2)
    assert m["mean_hd95"] == pytest.approx((1 / 3 + 2 * DIAG_8 / 3) / 2)
    summary = json.loads((tmp_path / "eval" / "test_metrics_summary.json").read_text())
    assert summary["num_images"] == 3 and summary["unit_label"] == "px@256"
    assert summary["structures"]["la"]["counts"] == {
        "both_empty": 0,
        "missed": 1,
        "false_positive": 1,
        "both_nonempty": 1,
    }
    assert summary["structures"]["lv"]["hd95"]["n_both_nonempty"] == 2
    assert summary["per_image_csv"] == "test_metrics_per_image.csv"
    rows = read_csv(tmp_path / "eval" / "test_metrics_per_image.csv")
    assert rows[0] == ["image_id", "structure", "case", "dice", "iou", "hd95", "unit", "grid"]
    assert len(rows) == 1 + 3 * 2
    assert rows[1] == ["p0000_00", "lv", "both_nonempty", "0.75", "0.6", "1", "px@256", "256"]
    assert rows[2][:3] == ["p0000_00", "la", "missed"] and float(rows[2][5]) == pytest.approx(DIAG_8, rel=1e-5)
    assert rows[6][:3] == ["p0002_00", "la", "false_positive"]
    out = capsys.readouterr().out
    assert "lv" in out and "mean over structures" in out and "0/1/1/1" in out and "1/0/0/2" in out
    assert handler.summary["overall"]["dice"]["mean"] == pytest.approx(m["mean_dice"])


def test_spacing_from_label_meta_gives_mm(tmp_path):
    engine, data = meta_engine(spacing=[0.5, 0.5])
    USMetricsReportHandler(tmp_path, ["lv", "la"], print_table=False, metric_prefix="test_").attach(engine)
    engine.run(data, max_epochs=1)
    assert engine.state.metrics["test_hd95_lv"] == pytest.approx(0.5 / 3)
    assert engine.state.metrics["test_hd95_la"] == pytest.approx(DIAG_8 / 3)
    assert json.loads((tmp_path / "metrics_summary.json").read_text())["unit"] == "mm"
    assert read_csv(tmp_path / "metrics_per_image.csv")[1][-2:] == ["mm", ""]


def test_batched_tensors_fixed_spacing_extras_and_background(tmp_path):
    bg = lambda c: 1 - c.amax(0, keepdim=True)  # noqa: E731
    preds = torch.stack([torch.cat([bg(p), p]) for p, _ in PAIRS])  # (3, 3, 8, 8) one-hot incl. background
    labels = torch.stack([torch.cat([bg(y), y]) for _, y in PAIRS])
    engine = Engine(lambda e, b: {"pred": preds, "label": labels})
    handler = USMetricsReportHandler(
        tmp_path,
        ["lv", "la"],
        spacing=(2.0, 0.5),
        include_background=False,
        metrics=("dice", "iou", "hd95", "assd"),
        print_table=False,
    )
    handler.attach(engine)
    engine.run([0], max_epochs=1)
    rows = read_csv(tmp_path / "metrics_per_image.csv")
    assert rows[0] == ["image_id", "structure", "case", "dice", "iou", "hd95", "assd", "unit", "grid"]
    assert [r[0] for r in rows[1:]] == ["image_00000", "image_00000", "image_00001", "image_00001"] + [
        "image_00002"
    ] * 2
    assert rows[1][3:7] == ["0.75", "0.6", "0.5", "0.25"]
    assert engine.state.metrics["dice_lv"] == pytest.approx(2.75 / 3)
    assert handler.summary["unit"] == "mm"


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="non-empty sequence"):
        USMetricsReportHandler(tmp_path, "lv")
    with pytest.raises(ValueError, match="missing"):
        USMetricsReportHandler(tmp_path, ["lv"], metrics=("dice",))
    with pytest.raises(ValueError, match="fixed spacing"):
        USMetricsReportHandler(tmp_path, ["lv"], spacing=(1.0, 2.0, 3.0))
    engine, data = meta_engine()
    USMetricsReportHandler(tmp_path, ["lv"], print_table=False).attach(engine)
    with pytest.raises(ValueError, match=r"expected \(1, H, W\)"):
        engine.run(data, max_epochs=1)
    # mm then px in one epoch
    mixed = Engine(
        lambda e, b: [{"pred": G[None], "label": MetaTensor(G[None], meta={"spacing": [0.5, 0.5]} if b else {})}]
    )
    USMetricsReportHandler(tmp_path, ["lv"], print_table=False).attach(mixed)
    with pytest.raises(ValueError, match="mix units"):
        mixed.run([1, 0], max_epochs=1)


def test_empty_epoch_writes_nothing(tmp_path):
    engine = Engine(lambda e, b: [])
    handler = USMetricsReportHandler(tmp_path / "none", ["lv"], output_transform=lambda out: ([], []))
    handler.attach(engine)
    engine.run([0], max_epochs=1)
    assert handler.summary is None and not (tmp_path / "none").exists()
