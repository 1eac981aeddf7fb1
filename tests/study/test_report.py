# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.study.report and monai_ext.study.plots: the results folder (Markdown, study.json, PNG figures)
written from hand-made cells on a real phantom split."""

from __future__ import annotations

import json
import shutil

import numpy as np
from PIL import Image

from monai_ext.data import load_split, make_split_file, output_stem, write_phantom_dataset
from monai_ext.study.cells import StudyCell
from monai_ext.study.plots import select_example_images
from monai_ext.study.report import write_study_report
from monai_ext.study.tables import load_cell_record

from .cell_fixtures import write_cell


def test_results_folder(tmp_path):
    root = write_phantom_dataset(tmp_path / "data", task="breast", num=20, size=64, seed=1, progress=False)
    split_path = str(make_split_file(root, labeled=0.25, seed=0))
    split = load_split(split_path)
    labels = split["labels"]
    ids = [output_stem(it["image"]) for it in split["test"]]
    n = len(ids)
    out = tmp_path / "cells"
    records = []
    for method, bundle in (("supervised", "supervised_us_segmentation"), ("cct", "cct_us_segmentation")):
        for seed in (0, 1):
            cell = StudyCell(method, bundle, "", "breast", 0.25, seed, "quick")
            dice = np.linspace(0.3, 0.7, n) + (0.1 if method == "cct" else 0.0) + 0.01 * seed
            run = write_cell(out, cell, ids, dice, uncertainty=list(1 - dice) if method == "cct" else None)
            infer = run / "infer"
            infer.mkdir(exist_ok=True)
            for it in split["test"]:  # cct "predicts" the ground truth, supervised nothing
                stem = output_stem(it["image"])
                if method == "cct":
                    shutil.copy(root / it["label"], infer / f"{stem}_mask.png")
                    Image.fromarray(np.full((64, 64), 40, np.uint8)).save(infer / f"{stem}_uncertainty.png")
                else:
                    Image.fromarray(np.zeros((64, 64), np.uint8)).save(infer / f"{stem}_mask.png")
            records.append(load_cell_record(cell, out, split_path))
    results = tmp_path / "results"
    context = {"command": "python -m monai_ext study --tasks breast", "started": "now", "duration_s": 90,
               "cpu": "test CPU", "preset": "quick", "dataset": {"breast": str(root)}}
    agg = write_study_report(records, results, context, "supervised", {"cct": {"features": [4, 8, 16, 32, 64]}},
                             labels={"breast": labels}, failed={"msmo_us_segmentation_breast_l0.25_s0": "boom"})
    names = sorted(p.name for p in results.iterdir())
    assert names == ["README.md", "breast_dice_vs_labeled.png", "breast_l0.25_overlays.png",
                     "breast_l0.25_per_image.png", "breast_l0.25_uncertainty.png", "study.json"]
    for png in results.glob("*.png"):
        with Image.open(png) as im:
            assert im.size[0] > 200 and im.size[1] > 200, png
    readme = (results / "README.md").read_text()
    assert "Command: `python -m monai_ext study --tasks breast`" in readme
    assert "| supervised | 0.25 | 2 |" in readme and "| cct | 0.25 | 2 |" in readme
    assert "split_s0_v0.1_t0.2_l0.25.json" in readme and "split_s1_v0.1_t0.2_l0.25.json" not in readme
    assert "| cct | `cct_us_segmentation` | CCTUNet |" in readme  # network and parameter count from the bundle
    assert "| RandRotate90d, RandFlipd, RandFlipd |" in readme  # the augmentation of the quick preset
    assert "![overlays, breast_l0.25, seed 0](breast_l0.25_overlays.png)" in readme
    assert "| msmo_us_segmentation_breast_l0.25_s0 | boom |" in readme
    study = json.loads((results / "study.json").read_text())
    gain = study["tasks"]["breast"]["fractions"]["0.25"]["cct"]["gain"]
    assert abs(gain["mean"] - 0.1) < 1e-9
    assert agg["files"][0].endswith("README.md")
    # the example images are fixed: lesion present first, then one normal image when the split has one
    chosen = select_example_images(split, labels, 3)
    assert chosen == select_example_images(split, labels, 3) and len(chosen) == 3
