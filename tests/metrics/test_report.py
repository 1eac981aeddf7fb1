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

"""Tests of monai_ext.metrics.report on a tiny hand-made set (4 images x 2 structures)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from monai_ext.metrics.report import format_us_metrics_table, summarize_us_metrics, us_unit_label, write_us_metrics_csv

# categories: 0 both empty, 1 missed, 2 false positive, 3 both non-empty; D_max = 10
CATS = [[3, 0], [1, 3], [0, 2], [3, 3]]
VALUES = {
    "dice": [[0.8, 1.0], [0.0, 0.6], [1.0, 0.0], [0.6, 0.9]],
    "iou": [[0.5, 1.0], [0.0, 0.5], [1.0, 0.0], [0.5, 0.5]],
    "hd95": [[2.0, 0.0], [10.0, 4.0], [0.0, 10.0], [4.0, 2.0]],
}
NAMES = ["lesion", "nodule"]
IDS = ["img0", "img1", "img2", "img3"]


def test_summary_numbers():
    s = summarize_us_metrics({k: torch.tensor(v) for k, v in VALUES.items()}, torch.tensor(CATS), NAMES, IDS)
    assert s["num_images"] == 4 and s["unit"] == "px" and s["unit_label"] == "px"
    les, nod = s["structures"]["lesion"], s["structures"]["nodule"]
    assert les["dice"]["mean"] == pytest.approx(0.6)
    assert les["dice"]["std"] == pytest.approx(math.sqrt(0.56 / 4))  # population std
    assert les["dice"]["median"] == pytest.approx(0.7)
    assert les["dice"]["mean_present"] == pytest.approx((0.8 + 0.0 + 0.6) / 3)
    assert les["dice"]["n_present"] == 3 and les["dice"]["n"] == 4
    assert les["hd95"]["mean"] == pytest.approx(4.0)
    assert les["hd95"]["median"] == pytest.approx(3.0)
    assert les["hd95"]["mean_present"] == pytest.approx(16 / 3)
    assert les["hd95"]["mean_both_nonempty"] == pytest.approx(3.0)
    assert les["hd95"]["n_both_nonempty"] == 2
    assert "mean_both_nonempty" not in les["dice"]
    assert les["counts"] == {"both_empty": 1, "missed": 1, "false_positive": 0, "both_nonempty": 2}
    assert nod["counts"] == {"both_empty": 1, "missed": 0, "false_positive": 1, "both_nonempty": 2}
    assert nod["dice"]["mean"] == pytest.approx(0.625)
    assert nod["dice"]["mean_present"] == pytest.approx(0.75)
    assert nod["iou"]["mean"] == pytest.approx(0.5)
    assert nod["hd95"]["mean_both_nonempty"] == pytest.approx(3.0)
    ov = s["overall"]
    assert ov["dice"]["mean"] == pytest.approx(0.6125)
    assert ov["dice"]["mean_present"] == pytest.approx(((1.4 / 3) + 0.75) / 2)
    assert ov["dice"]["std"] == pytest.approx(math.sqrt(0.211875 / 4))  # over per-image means [.9 .3 .5 .75]
    assert ov["hd95"]["mean"] == pytest.approx(4.0) and ov["hd95"]["mean_both_nonempty"] == pytest.approx(3.0)
    json.dumps(s)  # JSON-serialisable, no NaN


def test_structure_never_present_gives_none():
    s = summarize_us_metrics({"dice": [[1.0], [0.0]], "hd95": [[0.0], [5.0]]}, [[0], [2]], ["la"], unit="mm")
    la = s["structures"]["la"]
    assert la["dice"]["mean_present"] is None and la["dice"]["n_present"] == 0
    assert la["hd95"]["mean_both_nonempty"] is None and la["hd95"]["n_both_nonempty"] == 0
    assert s["overall"]["dice"]["mean_present"] is None
    assert la["dice"]["mean"] == pytest.approx(0.5) and s["unit_label"] == "mm"
    assert "n/a" in format_us_metrics_table(s)


def test_table_text():
    s = summarize_us_metrics(VALUES, np.array(CATS), NAMES, unit="px", grid="256")
    table = format_us_metrics_table(s)
    lines = table.splitlines()
    assert "4 images" in lines[0] and "px@256" in lines[0]
    assert lines[1].split()[0] == "structure" and "HD95 all [px@256]" in lines[1]
    assert lines[2].startswith("lesion") and "0.600 ± 0.374 (0.700)" in lines[2] and "3.000 (2)" in lines[2]
    assert lines[2].rstrip().endswith("1/1/0/2")
    assert lines[3].startswith("nodule") and lines[3].rstrip().endswith("1/0/1/2")
    assert lines[4].startswith("mean over structures") and "0.613 ± 0.230" in lines[4]
    with pytest.raises(ValueError, match="summarize_us_metrics"):
        format_us_metrics_table({"structures": {}})


def test_csv_rows(tmp_path):
    path = write_us_metrics_csv(tmp_path / "sub" / "per_image.csv", VALUES, CATS, NAMES, IDS, unit="px", grid="256")
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image_id", "structure", "case", "dice", "iou", "hd95", "unit", "grid"]
    assert len(rows) == 1 + 4 * 2
    assert rows[1] == ["img0", "lesion", "both_nonempty", "0.8", "0.5", "2", "px@256", "256"]
    assert rows[2] == ["img0", "nodule", "both_empty", "1", "1", "0", "px@256", "256"]
    assert rows[3] == ["img1", "lesion", "missed", "0", "0", "10", "px@256", "256"]
    assert rows[6] == ["img2", "nodule", "false_positive", "0", "0", "10", "px@256", "256"]
    # default ids and mm without grid
    path = write_us_metrics_csv(tmp_path / "b.csv", {"dice": VALUES["dice"]}, CATS, unit="mm")
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[1] == ["image_00000", "structure_0", "both_nonempty", "0.8", "mm", ""]


def test_unit_label_and_errors():
    assert us_unit_label("px", "native") == "px@native"
    assert us_unit_label("mm", "native") == "mm"
    with pytest.raises(ValueError, match="unit"):
        us_unit_label("cm")
    with pytest.raises(ValueError, match="structure names"):
        summarize_us_metrics(VALUES, CATS, ["only_one"])
    with pytest.raises(ValueError, match="image ids"):
        summarize_us_metrics(VALUES, CATS, NAMES, ["a"])
    with pytest.raises(ValueError, match="shape"):
        summarize_us_metrics({"dice": [[1.0, 1.0]]}, CATS, NAMES)
    with pytest.raises(ValueError, match="NaN"):
        summarize_us_metrics({"dice": [[float("nan"), 1.0]] * 4}, CATS, NAMES)
    with pytest.raises(ValueError, match="case codes"):
        summarize_us_metrics(VALUES, [[4, 0]] * 4, NAMES)
    with pytest.raises(ValueError, match="no per-image values"):
        summarize_us_metrics({"dice": np.zeros((0, 2))}, np.zeros((0, 2)), NAMES)
