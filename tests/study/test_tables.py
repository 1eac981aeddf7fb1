# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.study.tables (aggregation) and monai_ext.study.report (tables) on hand-made cells."""

from __future__ import annotations

import math

import pytest

from monai_ext.study.cells import StudyCell
from monai_ext.study.report import format_task_tables
from monai_ext.study.tables import aggregate_study, load_cell_record

from .cell_fixtures import write_cell

IDS = ["p0000_00", "p0001_00", "p0002_00", "p0003_00"]
DICE = {
    ("supervised", 0): [0.5, 0.6, 0.7, 0.8],  # mean 0.65
    ("supervised", 1): [0.4, 0.5, 0.6, 0.7],  # mean 0.55
    ("cct", 0): [0.6, 0.7, 0.8, 0.9],  # mean 0.75: +0.10
    ("cct", 1): [0.5, 0.5, 0.7, 0.8],  # mean 0.625: +0.075
}


def _cell(method: str, seed: int) -> StudyCell:
    bundle = {"supervised": "supervised_us_segmentation", "cct": "cct_us_segmentation"}[method]
    return StudyCell(method, bundle, "", "breast", 0.125, seed, "quick")


@pytest.fixture()
def records(tmp_path):
    out = []
    for (method, seed), dice in DICE.items():
        unc = [1 - d for d in dice] if method == "cct" else None
        write_cell(tmp_path, _cell(method, seed), IDS, dice, uncertainty=unc, train_s=60.0 * (seed + 1))
        out.append(load_cell_record(_cell(method, seed), tmp_path))
    return out


def test_records_read_back(records):
    r = records[0]
    assert r.per_image["p0001_00"]["lesion"]["dice"] == pytest.approx(0.6)
    assert r.per_image["p0001_00"]["lesion"]["case"] == "both_nonempty"
    assert records[2].uncertainty["p0000_00"] == pytest.approx(0.4)
    with pytest.raises(FileNotFoundError, match="has not finished"):
        load_cell_record(_cell("cct", 7), records[0].run_dir.parent)


def test_aggregate_hand_computed(records):
    agg = aggregate_study(records, baseline="supervised")
    entry = agg["breast"]["fractions"][0.125]
    sup, cct = entry["supervised"], entry["cct"]
    assert sup["seeds"] == [0, 1]
    assert sup["mean_dice"]["mean"] == pytest.approx(0.6)
    assert sup["mean_dice"]["std"] == pytest.approx(math.sqrt(2 * 0.05**2))  # ddof = 1 over two seeds
    assert sup["structures"]["lesion"]["dice_present"]["mean"] == pytest.approx(0.6)
    iou0 = sum(d / (2 - d) for d in DICE[("supervised", 0)]) / 4
    iou1 = sum(d / (2 - d) for d in DICE[("supervised", 1)]) / 4
    assert sup["structures"]["lesion"]["iou"]["mean"] == pytest.approx((iou0 + iou1) / 2)
    assert sup["structures"]["lesion"]["hd95"]["mean"] == pytest.approx(10 * (1 - 0.6))
    assert sup["cases"]["lesion"] == {"both_empty": 0, "missed": 0, "false_positive": 0, "both_nonempty": 8}
    assert "gain" not in sup and "wilcoxon" not in sup
    assert cct["gain"]["per_seed"] == {0: pytest.approx(0.10), 1: pytest.approx(0.075)}
    assert cct["gain"]["mean"] == pytest.approx(0.0875)
    assert cct["gain"]["std"] == pytest.approx(0.025 / math.sqrt(2))
    w = cct["wilcoxon"]
    assert (w["n"], w["n_nonzero"]) == (8, 7)  # one image has the same Dice
    assert w["rank_biserial"] == pytest.approx(1.0) and w["p_value"] < 0.05
    assert cct["uncertainty"]["spearman_rho"] == pytest.approx(-1.0) and cct["uncertainty"]["n"] == 8
    assert cct["train"]["wall_min"]["mean"] == pytest.approx(1.5) and cct["train"]["peak_rss_mb"] == 700.0


def test_markdown_tables(records):
    agg = aggregate_study(records, baseline="supervised")
    text = "\n".join(format_task_tables("breast", agg["breast"]))
    assert "| supervised | 0.125 | 2 | 0.600 ± 0.071 |" in text
    assert "| cct | 0.125 | 0.688 ± 0.088 | +0.087 ± 0.018 |" in text
    assert "0/0/0/8" in text
    assert "-1.00 (8)" in text  # uncertainty-Dice Spearman
    assert "| supervised | 0.125 | 0.600 ± 0.071 | — | — | — | — | 1.5 ± 0.7 | 3.0 ± 1.4 | 700 |" in text
