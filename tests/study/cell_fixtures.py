# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Finished study cells written by hand (result.json, per-image CSV, uncertainty scores, masks) for the table,
report and plot tests: the same files a bundle run writes, with chosen numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from monai_ext.metrics import US_CASE_BOTH_EMPTY, US_CASE_BOTH_NONEMPTY, summarize_us_metrics, write_us_metrics_csv
from monai_ext.study.cells import StudyCell


def write_cell(out: Path, cell: StudyCell, ids: Sequence[str], dice: Sequence[float],
               uncertainty: Sequence[float] | None = None, empty: Sequence[bool] | None = None,
               train_s: float = 120.0) -> Path:
    """A finished cell folder: per-image Dice as given (IoU = D / (2 - D), HD95 = 10 (1 - D)); ``empty`` marks
    images whose ground truth and prediction are both empty (Dice 1)."""
    run_dir = out / cell.name
    (run_dir / "eval").mkdir(parents=True)
    d = np.asarray(dice, dtype=np.float64)[:, None]
    cats = np.where(np.asarray(empty if empty is not None else [False] * len(ids))[:, None], US_CASE_BOTH_EMPTY,
                    US_CASE_BOTH_NONEMPTY)
    values = {"dice": d, "iou": d / (2 - d), "hd95": 10 * (1 - d)}
    write_us_metrics_csv(run_dir / "eval" / "test_metrics_per_image.csv", values, cats, ["lesion"], ids)
    summary = summarize_us_metrics(values, cats, ["lesion"], ids)
    summary["per_image_csv"] = "test_metrics_per_image.csv"
    (run_dir / "eval" / "test_metrics_summary.json").write_text(json.dumps(summary))
    result = {"bundle": cell.bundle, "variant": cell.variant, "task": cell.task, "labeled": cell.labeled,
              "seed": cell.seed, "preset": cell.preset, "override": {"max_iterations": 10}, "best_val_dice": 0.5,
              "best_val_epoch": 3, "test": summary, "command": "python -m monai.bundle run ...", "cpu": "test CPU",
              "timings": {"train": {"wall_s": train_s, "cpu_s": 2 * train_s, "peak_rss_mb": 700.0},
                          "evaluate": {"wall_s": 5.0, "cpu_s": 5.0, "peak_rss_mb": 600.0}}}
    (run_dir / "result.json").write_text(json.dumps(result))
    if uncertainty is not None:
        (run_dir / "infer").mkdir()
        with open(run_dir / "infer" / "uncertainty_scores.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "frame", "mean", "max"])
            for i, u in zip(ids, uncertainty):
                w.writerow([i, 0, u, min(1.0, 2 * u)])
    return run_dir
