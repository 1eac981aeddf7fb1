# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The quick study end to end (one task, two methods, one seed, tiny cells through the real bundles), then a second
run that re-runs nothing, then a failing cell that does not stop the others; and the cell list / CLI checks."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from monai_ext.cli import build_parser
from monai_ext.study.cells import resolve_method
from monai_ext.study.runner import StudyOptions, StudyProgress, build_cells, run_study

from .conftest import TINY

CELLS = ["supervised_us_segmentation_breast_l0.25_s0", "cct_us_segmentation_breast_l0.25_s0"]


def _options(tmp: Path, methods=("supervised", "cct"), **kwargs) -> StudyOptions:
    return StudyOptions(tasks=["breast"], labeled=[0.25], seeds=[0], methods=list(methods), preset="quick",
                        out=tmp / "out", results_dir=tmp / "results", jobs=2, override=TINY,
                        command="python -m monai_ext study --tasks breast (test)", **kwargs)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    stream = io.StringIO()
    t0 = time.time()
    outcome = run_study(_options(tmp), stream=stream)
    return tmp, outcome, stream.getvalue(), time.time() - t0


@pytest.mark.slow
def test_quick_study_end_to_end(study):
    tmp, outcome, log, seconds = study
    assert outcome["errors"] == {} and outcome["cells"] == {n: "done" for n in CELLS}
    assert "[study] 2/2 done (0 reused), 0 running, 0 failed, 0 left" in log
    assert "estimated time left" in log
    out = tmp / "out"
    split = json.loads(next((out / "data").glob("phantom_breast_n24_s64_seed0/splits/*.json")).read_text())
    n_test = len(split["test"])
    for name in CELLS:
        run = out / name
        result = json.loads((run / "result.json").read_text())
        assert result["preset"] == "quick" and result["test"]["num_images"] == n_test
        assert result["best_val_dice"] is not None  # the checkpoint was selected on the validation split
        assert len((run / "eval" / "test_metrics_per_image.csv").read_text().splitlines()) == 1 + n_test
        masks = sorted((run / "infer").glob("*_mask.png"))
        assert len(masks) == n_test
        with Image.open(masks[0]) as im:
            assert set(np.unique(np.asarray(im))) <= {0, 255}
    # the multi-decoder method also wrote its uncertainty maps and scores
    assert len(list((out / CELLS[1] / "infer").glob("*_uncertainty.nii.gz"))) == n_test
    assert not list((out / CELLS[0] / "infer").glob("*_uncertainty*"))
    entry = outcome["report"]["breast"]["fractions"][0.25]
    assert set(entry) == {"supervised", "cct"}
    assert entry["cct"]["wilcoxon"]["n"] == n_test and entry["cct"]["uncertainty"]["n"] == n_test
    readme = (tmp / "results" / "README.md").read_text()
    assert "| supervised | 0.25 | 1 |" in readme and "| cct | 0.25 | 1 |" in readme
    assert {p.name for p in (tmp / "results").glob("*.png")} == {
        "breast_dice_vs_labeled.png", "breast_l0.25_per_image.png", "breast_l0.25_overlays.png",
        "breast_l0.25_uncertainty.png"}
    # MLflow: a parent run for the study and a child run per cell with parameters, metrics and artifacts
    client = MlflowClient(outcome["tracking_uri"])
    assert outcome["tracking_uri"] == f"sqlite:///{out / 'mlruns.db'}"
    parent = client.get_run(outcome["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.params["preset"] == "quick"
    assert "results/README.md" in [a.path for a in client.list_artifacts(parent.info.run_id, "results")]
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == sorted(CELLS)
    cct = next(r for r in children if r.info.run_name == CELLS[1])
    assert cct.data.params["method"] == "cct" and cct.data.params["labeled_fraction"] == "0.25"
    assert {"test_dice_lesion", "test_iou_lesion", "test_hd95_lesion", "test_mean_dice", "train_wall_s",
            "uncertainty_dice_spearman"} <= set(cct.data.metrics)
    assert not [m for m in cct.data.metrics if m.startswith("val_")]
    artifacts = {a.path for a in client.list_artifacts(cct.info.run_id)}
    assert {"test_metrics_per_image.csv", "test_metrics_summary.json", "result.json",
            "uncertainty_scores.csv"} <= artifacts


@pytest.mark.slow
def test_second_run_reruns_nothing(study):
    tmp, first, _, _ = study
    logs = {p: p.stat().st_mtime_ns for n in CELLS for p in (tmp / "out" / n).glob("*_log.txt")}
    assert len(logs) == 3 * len(CELLS)  # train, evaluate, infer
    stream = io.StringIO()
    outcome = run_study(_options(tmp), stream=stream)
    assert outcome["cells"] == {n: "reused" for n in CELLS}
    assert "[study] 2/2 done (2 reused)" in stream.getvalue()
    assert {p: p.stat().st_mtime_ns for p in logs} == logs  # no bundle process ran again
    assert outcome["parent_run_id"] == first["parent_run_id"]
    client = MlflowClient(outcome["tracking_uri"])
    children = client.search_runs([client.get_run(first["parent_run_id"]).info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{first['parent_run_id']}'")
    assert len(children) == len(CELLS)  # no cell logged twice


@pytest.mark.slow
def test_finished_only_reports_what_is_there_and_runs_nothing(study):
    tmp, _, _, _ = study
    logs = {p: p.stat().st_mtime_ns for n in CELLS for p in (tmp / "out" / n).glob("*_log.txt")}
    stream = io.StringIO()
    opts = _options(tmp, methods=("supervised", "meanteacher", "cct"), finished_only=True, tracking_uri="")
    opts.results_dir = tmp / "results_finished"
    outcome = run_study(opts, stream=stream)
    missing = "meanteacher_us_segmentation_breast_l0.25_s0"
    assert outcome["cells"] == {missing: "not run", CELLS[0]: "reused", CELLS[1]: "reused"}
    assert outcome["errors"] == {missing: "not run yet (--finished-only)"}
    assert not (tmp / "out" / missing).exists()  # nothing started for it
    assert {p: p.stat().st_mtime_ns for p in logs} == logs
    readme = (tmp / "results_finished" / "README.md").read_text()
    assert f"| {missing} | not run yet (--finished-only) |" in readme and "| cct | 0.25 | 1 |" in readme
    assert "(`--finished-only`: nothing was run;" in readme and ", took " not in readme


@pytest.mark.slow
def test_failed_cell_is_reported_and_the_others_finish(study):
    tmp, first, _, _ = study
    stream = io.StringIO()
    opts = _options(tmp, methods=("supervised", "meanteacher", "cct"),
                    method_overrides={"meanteacher": {"max_iterations": "many"}})
    outcome = run_study(opts, stream=stream)
    bad = "meanteacher_us_segmentation_breast_l0.25_s0"
    assert outcome["cells"] == {CELLS[0]: "reused", bad: "failed", CELLS[1]: "reused"}
    assert "exit code" in outcome["errors"][bad] and "train_log.txt" in outcome["errors"][bad]
    assert f"[study] FAILED {bad}" in stream.getvalue()
    assert "| " + bad + " |" in (tmp / "results" / "README.md").read_text()
    client = MlflowClient(outcome["tracking_uri"])
    failed = client.search_runs([client.get_run(first["parent_run_id"]).info.experiment_id],
                                filter_string=f"tags.`monai_ext.cell` = '{bad}'")
    assert [r.info.status for r in failed] == ["FAILED"] and "exit code" in failed[0].data.tags["error"]


def test_cells_and_methods(tmp_path):
    cells = build_cells(StudyOptions(tasks=["breast", "cardiac"], labeled=[0.125, 0.5], seeds=[0, 1],
                                     methods=["supervised", "mgcc:notaps"], preset="research", out=tmp_path))
    assert len(cells) == 16
    assert cells[0].name == "supervised_us_segmentation_breast_l0.125_s0"
    assert cells[1].name == "mgcc_us_segmentation_notaps_breast_l0.125_s0" and cells[1].method == "mgcc:notaps"
    assert resolve_method("cct_us_segmentation") == ("cct", "cct_us_segmentation", "")
    assert resolve_method("nnunet") == ("nnunet", "nnunet", "")
    with pytest.raises(ValueError, match="unknown method 'unet'"):
        resolve_method("unet")
    with pytest.raises(ValueError, match="unknown variant"):
        resolve_method("mgcc:fast")
    with pytest.raises(FileNotFoundError, match="no configs/train.json"):
        resolve_method("sabr", bundles_dir=tmp_path)
    with pytest.raises(ValueError, match="--preset"):
        build_cells(StudyOptions(["breast"], [0.1], [0], ["cct"], "fast", tmp_path))


def test_progress_estimate():
    progress = StudyProgress(total=4, jobs=2, stream=io.StringIO())
    assert progress.eta_seconds() is None
    progress.durations = [100.0, 300.0]
    progress.done = 2
    assert progress.eta_seconds() == pytest.approx(200.0)  # 2 cells left at 200 s each, 2 side by side
    assert "2/4 done" in progress.line()


def test_study_command_line():
    args = build_parser().parse_args(["study", "--tasks", "breast,cardiac", "--labeled", "0.125,0.25", "--seeds",
                                      "0,1,2", "--methods", "supervised,cct,mgcc:notaps", "--preset", "research",
                                      "--out", "o", "--executor", "ray", "--address", "auto", "--jobs", "4",
                                      "--override", '{"max_iterations": 10}'])
    assert (args.tasks, args.labeled, args.seeds) == (["breast", "cardiac"], [0.125, 0.25], [0, 1, 2])
    assert args.methods == ["supervised", "cct", "mgcc:notaps"] and args.override == {"max_iterations": 10}
    assert (args.executor, args.address, args.jobs, args.results_dir) == ("ray", "auto", 4, "docs/results")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["study", "--out", "o", "--seeds", "a,b"])
    args = build_parser().parse_args(["export-nnunet", "split.json", "--labeled-only", "--out", "D"])
    assert args.labeled_only and args.import_nnunet is None
