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

"""``summary.json`` / ``summary.md`` of a folder of finished cells, the quick table of
``scripts/bench_ssl_phantom.py`` (the study's full report is :mod:`monai_ext.study.report`).

Per task and run name (``BUNDLE[:VARIANT]``): mean and population std over seeds of each structure's test Dice / IoU /
HD95 (means over all test images), the mean-Dice gain over the baseline per seed, best validation Dice and run times.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from monai_ext.study.cells import EARLIER_STAGES

__all__ = ["structure_means", "summarize", "summary_markdown"]


def structure_means(test: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{structure: {dice, iou, hd95}} of one run's test summary (means over all test images)."""
    out: dict[str, dict[str, float]] = {}
    for s, vals in test.get("structures", {}).items():
        src = vals.get("all", vals)
        out[s] = {m: float(src[m]["mean"] if isinstance(src[m], dict) else src[m]) for m in ("dice", "iou", "hd95")
                  if m in src}
    return out


def _run_label(r: dict[str, Any]) -> str:
    return r["bundle"] + (":" + r["variant"] if r["variant"] else "")


def summarize(out: Path, baseline: str | None = None) -> dict[str, Any]:
    """Aggregate every ``result.json`` under ``out`` and write ``summary.json`` and ``summary.md`` there."""
    results = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*/result.json"))]
    table: dict[str, Any] = {"cpu": results[0]["cpu"] if results else None, "tasks": {}}
    for task in sorted({r["task"] for r in results}):
        rows = [r for r in results if r["task"] == task]
        names: list[str] = []
        for r in rows:
            if _run_label(r) not in names:
                names.append(_run_label(r))
        base_name = baseline or next((n for n in names if n.startswith("supervised_us_segmentation") and ":" not in n),
                                     names[0])
        mean_dice = {(_run_label(r), r["seed"]): statistics.mean(v["dice"] for v in structure_means(r["test"]).values())
                     for r in rows}
        entries = {}
        for n in names:
            runs = [r for r in rows if _run_label(r) == n]
            per_structure: dict[str, dict[str, Any]] = {}
            for s in structure_means(runs[0]["test"]):
                per_structure[s] = {}
                for m in ("dice", "iou", "hd95"):
                    vals = [structure_means(r["test"])[s][m] for r in runs]
                    per_structure[s][m] = {"mean": statistics.mean(vals),
                                           "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
                                           "per_seed": {r["seed"]: v for r, v in zip(runs, vals)}}
            gains = {r["seed"]: mean_dice[(n, r["seed"])] - mean_dice[(base_name, r["seed"])] for r in runs
                     if (base_name, r["seed"]) in mean_dice}
            timings = [r.get("timings") or {} for r in runs]
            entries[n] = {
                "seeds": [r["seed"] for r in runs], "structures": per_structure,
                "mean_dice": statistics.mean(mean_dice[(n, r["seed"])] for r in runs),
                "gain_over_baseline": {"baseline": base_name, "per_seed": gains,
                                       "mean": statistics.mean(gains.values()) if gains else None},
                "best_val_dice": {r["seed"]: r["best_val_dice"] for r in runs},
                "train_cpu_s": {r["seed"]: t["train"]["cpu_s"] for r, t in zip(runs, timings) if "train" in t},
                "train_wall_s": {r["seed"]: t["train"]["wall_s"] for r, t in zip(runs, timings) if "train" in t},
                "ldm_cpu_s": {r["seed"]: sum(v["cpu_s"] for k, v in t.items() if k in EARLIER_STAGES)
                              for r, t in zip(runs, timings) if any(k in EARLIER_STAGES for k in t)},
                "commands": sorted({r["command"] for r in runs}),
            }
        table["tasks"][task] = entries
    (Path(out) / "summary.json").write_text(json.dumps(table, indent=2))
    (Path(out) / "summary.md").write_text(summary_markdown(table))
    return table


def summary_markdown(table: dict[str, Any]) -> str:
    """The summary as Markdown tables (one per task)."""
    lines = [f"CPU: {table['cpu']}", ""]
    for task, entries in table["tasks"].items():
        structures = list(next(iter(entries.values()))["structures"]) if entries else []
        head = "| run | seeds | " + " | ".join(f"{s} Dice | {s} IoU | {s} HD95 (px)" for s in structures)
        lines += [f"### {task}", "", head + " | mean Dice gain (per seed) | train time, one core (min) |",
                  "|" + " --- |" * (3 * len(structures) + 4)]
        for n, e in entries.items():
            cells = []
            for s in structures:
                for m in ("dice", "iou", "hd95"):
                    v = e["structures"][s][m]
                    digits = 1 if m == "hd95" else 3
                    cells.append(f"{v['mean']:.{digits}f} ± {v['std']:.{digits}f}")
            g = e["gain_over_baseline"]
            gain = "—" if n == g["baseline"] or g["mean"] is None else (
                f"{g['mean']:+.3f} ({', '.join(f'{v:+.3f}' for v in g['per_seed'].values())})")
            minutes = statistics.mean(e["train_cpu_s"].values()) / 60 if e["train_cpu_s"] else float("nan")
            lines.append(f"| {n} | {','.join(map(str, e['seeds']))} | " + " | ".join(cells) +
                         f" | {gain} | {minutes:.0f} |")
        lines.append("")
    return "\n".join(lines)
