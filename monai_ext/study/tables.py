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

"""The numbers of the comparison study (``docs/study.md``): each finished cell read back from its folder, then
aggregated per task, labelled fraction and method.

Per method: mean +- std over seeds of each structure's test Dice, IoU and HD95 (means over all test images, and
over the images with the structure present, ``|G| > 0``); the gain in mean Dice over the labelled-only baseline
per seed; the paired per-image Wilcoxon test against the baseline (pairs = the same test image of the same seed,
pooled over seeds; per-image value = Dice averaged over structures) with its rank-biserial effect size; training
time and peak memory; for the multi-decoder methods the Spearman correlation between the per-image uncertainty
score (``docs/uncertainty.md``) and the per-image Dice.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.study.cells import EARLIER_STAGES, StudyCell
from monai_ext.study.statistics import mean_std, paired_wilcoxon, spearman

__all__ = ["METRICS", "CellRecord", "aggregate_study", "load_cell_record", "per_image_mean_dice"]

METRICS = ("dice", "iou", "hd95")


@dataclass
class CellRecord:
    """A finished cell: its ``result.json``, per-image metrics and (multi-decoder cells) uncertainty scores.

    ``per_image[image_id][structure]`` holds ``dice``, ``iou``, ``hd95`` (floats) and ``case``;
    ``uncertainty[image_id]`` the mean decoder disagreement of the image (frame 0).
    """

    cell: StudyCell
    run_dir: Path
    result: dict[str, Any]
    per_image: dict[str, dict[str, dict[str, Any]]]
    uncertainty: dict[str, float] = field(default_factory=dict)
    split_path: str | None = None


def _read_per_image(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            table[row["image_id"]][row["structure"]] = {
                "case": row["case"], **{m: float(row[m]) for m in METRICS if row.get(m) not in (None, "")}
            }
    return dict(table)


def load_cell_record(cell: StudyCell, out: str | Path, split_path: str | None = None) -> CellRecord:
    """Read a finished cell back from ``out/<cell name>``.

    Raises:
        FileNotFoundError: no ``result.json`` or no per-image CSV.
    """
    run_dir = Path(out).expanduser().resolve() / cell.name
    result_file = run_dir / "result.json"
    if not result_file.is_file():
        raise FileNotFoundError(f"{result_file}: the cell has not finished.")
    result = json.loads(result_file.read_text())
    csv_name = result.get("test", {}).get("per_image_csv", "test_metrics_per_image.csv")
    csv_path = run_dir / "eval" / csv_name
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: the cell's per-image test metrics are missing.")
    uncertainty: dict[str, float] = {}
    scores = run_dir / "infer" / "uncertainty_scores.csv"
    if scores.is_file():
        with open(scores, newline="") as f:
            uncertainty = {r["image_id"]: float(r["mean"]) for r in csv.DictReader(f) if int(r["frame"]) == 0}
    return CellRecord(cell, run_dir, result, _read_per_image(csv_path), uncertainty, split_path)


def per_image_mean_dice(record: CellRecord) -> dict[str, float]:
    """Image id -> Dice averaged over the structures."""
    return {i: float(np.mean([v["dice"] for v in s.values()])) for i, s in record.per_image.items()}


def _structure_value(result: dict[str, Any], structure: str, metric: str, present: bool) -> float | None:
    entry = result["test"]["structures"][structure][metric]
    value = entry.get("mean_present" if present else "mean")
    return None if value is None else float(value)


def _stats(values: Sequence[float | None]) -> dict[str, Any]:
    mean, std = mean_std([v for v in values if v is not None])
    return {"mean": mean, "std": std, "n": sum(v is not None for v in values)}


def _method_entry(records: list[CellRecord], baseline: dict[int, CellRecord] | None) -> dict[str, Any]:
    records = sorted(records, key=lambda r: r.cell.seed)
    structures = list(records[0].result["test"]["structure_names"])
    per_structure: dict[str, Any] = {}
    cases: dict[str, dict[str, int]] = {}
    for s in structures:
        per_structure[s] = {}
        for m in METRICS:
            for present in (False, True):
                key = f"{m}_present" if present else m
                per_structure[s][key] = _stats([_structure_value(r.result, s, m, present) for r in records])
        counts: dict[str, int] = defaultdict(int)
        for r in records:
            for case, n in r.result["test"]["structures"][s].get("counts", {}).items():
                counts[case] += int(n)
        cases[s] = dict(counts)
    mean_dice = {r.cell.seed: float(r.result["test"]["overall"]["dice"]["mean"]) for r in records}
    entry: dict[str, Any] = {
        "bundle": records[0].cell.bundle, "variant": records[0].cell.variant,
        "seeds": [r.cell.seed for r in records], "structures": per_structure, "cases": cases,
        "mean_dice": {**_stats(list(mean_dice.values())), "per_seed": mean_dice},
        "best_val_dice": {r.cell.seed: r.result.get("best_val_dice") for r in records},
    }
    train = [r.result.get("timings", {}).get("train") or {} for r in records]
    ldm = [sum(v.get("cpu_s", 0.0) for k, v in r.result.get("timings", {}).items() if k in EARLIER_STAGES)
           for r in records]
    entry["train"] = {
        "wall_min": _stats([t["wall_s"] / 60 if "wall_s" in t else None for t in train]),
        "cpu_min": _stats([t["cpu_s"] / 60 if "cpu_s" in t else None for t in train]),
        "peak_rss_mb": max((t["peak_rss_mb"] for t in train if "peak_rss_mb" in t), default=None),
        "ldm_cpu_min": _stats([v / 60 for v in ldm]) if any(ldm) else None,
    }
    if baseline is not None and records[0].cell.method != next(iter(baseline.values())).cell.method:
        gains = {r.cell.seed: mean_dice[r.cell.seed] - float(baseline[r.cell.seed].result["test"]["overall"]["dice"]
                                                               ["mean"]) for r in records if r.cell.seed in baseline}
        x, y = [], []
        for r in records:
            if r.cell.seed not in baseline:
                continue
            mine, base = per_image_mean_dice(r), per_image_mean_dice(baseline[r.cell.seed])
            common = sorted(set(mine) & set(base))
            x += [mine[i] for i in common]
            y += [base[i] for i in common]
        entry["gain"] = {**_stats(list(gains.values())), "per_seed": gains}
        entry["wilcoxon"] = paired_wilcoxon(x, y).to_dict() if x else None
    if any(r.uncertainty for r in records):
        u, d = [], []
        for r in records:
            dice = per_image_mean_dice(r)
            common = sorted(set(dice) & set(r.uncertainty))
            u += [r.uncertainty[i] for i in common]
            d += [dice[i] for i in common]
        rho, n = spearman(u, d)
        entry["uncertainty"] = {"spearman_rho": rho, "n": n, "mean_score": float(np.mean(u)) if u else None}
    return entry


def aggregate_study(records: Sequence[CellRecord], baseline: str | None = "supervised") -> dict[str, Any]:
    """Aggregate finished cells: ``{task: {"structures", "unit_label", "grid", "policy", "baseline",
    "fractions": {labeled: {method: entry}}}}`` (JSON-serialisable; fractions and seeds as they were given).

    Args:
        records: the finished cells (any mix of tasks, fractions, methods and seeds).
        baseline: the method whose cells are the labelled-only lower bound (matched by seed); None: no gains.
    """
    out: dict[str, Any] = {}
    for task in sorted({r.cell.task for r in records}):
        rows = [r for r in records if r.cell.task == task]
        first = rows[0].result["test"]
        units = sorted({r.result["test"].get("unit_label", "px") for r in rows})
        task_entry: dict[str, Any] = {
            "structures": list(first["structure_names"]), "unit_label": ", ".join(units),
            "grid": first.get("grid"), "policy": first.get("policy"), "baseline": baseline, "fractions": {},
        }
        for labeled in sorted({r.cell.labeled for r in rows}):
            cells = [r for r in rows if r.cell.labeled == labeled]
            methods: list[str] = []
            for r in cells:
                if r.cell.method not in methods:
                    methods.append(r.cell.method)
            base = {r.cell.seed: r for r in cells if r.cell.method == baseline} or None
            task_entry["fractions"][labeled] = {
                m: _method_entry([r for r in cells if r.cell.method == m], base) for m in methods
            }
        out[task] = task_entry
    return out
