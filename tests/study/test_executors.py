# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.study.executors: failure isolation of the local executor, Ray task resources, and two real
study cells as Ray tasks on a local Ray instance with two workers."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from monai_ext.study.cells import StudyCell
from monai_ext.study.executors import iter_local, ray_task_options
from monai_ext.study.runner import StudyOptions, run_study

from .conftest import TINY


def _cell(seed: int) -> StudyCell:
    return StudyCell("supervised", "supervised_us_segmentation", "", "breast", 0.25, seed, "quick")


def _work(cell: StudyCell) -> int:
    if cell.seed == 1:
        raise RuntimeError("bad cell")
    return cell.seed * 10


def test_local_executor_isolates_failures_and_reports_starts():
    started = []
    got = {c.seed: (v, e) for c, v, e in iter_local([_cell(s) for s in range(4)], _work, jobs=2,
                                                      on_start=lambda c: started.append(c.seed))}
    assert sorted(started) == [0, 1, 2, 3]
    assert {s: v for s, (v, e) in got.items() if e is None} == {0: 0, 2: 20, 3: 30}
    assert isinstance(got[1][1], RuntimeError) and str(got[1][1]) == "bad cell"


def test_ray_task_options():
    assert ray_task_options({"CPU": 16.0, "GPU": 4.0}) == {"num_gpus": 1}
    assert ray_task_options({"CPU": 2.0}) == {"num_cpus": 1}


@pytest.mark.slow
def test_two_cells_as_ray_tasks(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'monai_ext[study]')")
    opts = StudyOptions(tasks=["breast"], labeled=[0.25], seeds=[0, 1], methods=["supervised"], preset="quick",
                        out=tmp_path / "out", results_dir=None, jobs=2, executor="ray", address="local",
                        override=TINY, inference=False)
    outcome = run_study(opts)
    assert outcome["errors"] == {}
    assert outcome["cells"] == {"supervised_us_segmentation_breast_l0.25_s0": "done",
                                "supervised_us_segmentation_breast_l0.25_s1": "done"}
    for seed in (0, 1):
        run = tmp_path / "out" / f"supervised_us_segmentation_breast_l0.25_s{seed}"
        assert (run / "result.json").is_file() and (run / "models" / "model.pt").is_file()
        assert not (run / "run.lock").exists()
    # the study process (not the workers) wrote the MLflow runs: one parent, two children
    client = MlflowClient(outcome["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("monai_ext_study").experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == outcome["parent_run_id"]]
    assert sorted(r.info.run_name for r in children) == sorted(outcome["cells"])
    assert all(r.info.status == "FINISHED" and "test_dice_lesion" in r.data.metrics for r in children)
