# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Each baseline bundle trains, validates, evaluates, infers, tracks to MLflow and passes the offline checks, at tiny
size, in its own subprocess (docs/methods/bundles.md, "Tests of bundles")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("bundle_worker.py")

# (bundle, task, structures, method, tracking): the Mean Teacher run is tracked by a real `mlflow server` on
# loopback, as a team would; the others by a local sqlite store.
CASES = [
    ("supervised_us_segmentation", "breast", 1, "supervised", "sqlite"),
    ("meanteacher_us_segmentation", "breast", 1, "mean_teacher", "server"),
    ("cct_us_segmentation", "cardiac", 3, "cct", "sqlite"),
]


def run_worker(bundle: str, task: str, tmp_path: Path, tracking_uri: str | None = None) -> dict:
    result = tmp_path / "result.json"
    uri = tracking_uri or f"sqlite:///{tmp_path}/mlruns.db"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(ROOT / "bundles" / bundle), str(tmp_path), task, uri, str(result)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(result.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("bundle,task,num_structures,method,tracking", CASES)
def test_bundle_train_evaluate_infer_track_and_check(bundle, task, num_structures, method, tracking, tmp_path,
                                                     request):
    uri = request.getfixturevalue("mlflow_server") if tracking == "server" else None
    r = run_worker(bundle, task, tmp_path, tracking_uri=uri)
    if tracking == "server":
        assert r["tracking_uri"].startswith("http://127.0.0.1:")
    assert r["train_properties"] == [] and r["infer_properties"] == []
    assert r["train_iterations"] == 6
    assert "models/model.pt" in r["checkpoints"]
    assert "models/resume/checkpoint_checkpoint_iteration=6.pt" in r["checkpoints"]
    names = ["lesion"] if task == "breast" else ["lv", "myocardium", "la"]
    assert {f"val_dice_{n}" for n in names} | {"val_mean_dice"} <= set(r["val_metrics"])
    assert all(0.0 <= r["val_metrics"][f"val_dice_{n}"] <= 1.0 for n in names)
    # MLflow: losses, learning rate, validation metrics, parameters and the executed config
    assert {"train_loss", "lr_group_0", "val_mean_dice", "loss_sup"} <= set(r["mlflow_metrics"])
    assert r["mlflow_history_train_loss"] == 6
    if method != "supervised":
        assert {"loss_cons", "consistency_weight"} <= set(r["mlflow_metrics"])
    assert r["mlflow_params"]["method"] == method and r["mlflow_params"]["task"] == task
    assert any(a.startswith("config_") for a in r["mlflow_artifacts"])
    # evaluation on the test split, with a per-image CSV (one row per image and structure)
    assert {"structures", "overall", "per_image_csv"} <= set(r["test_summary_keys"])
    assert r["eval_run_status"] == ["FINISHED"]  # the tracked evaluation is its own, closed MLflow run
    assert {f"test_dice_{n}" for n in names} | {"test_mean_dice"} <= set(r["eval_run_metrics"])
    # an evaluation run logs its scores under test_ names only (no val_* copy that reads as validation in MLflow)
    assert [m for m in r["eval_run_metrics"] if m.startswith("val_")] == []
    assert {"test_mean_iou", "test_mean_hd95"} <= set(r["eval_run_metrics"])
    assert r["test_csv_rows"] > 0 and r["test_csv_rows"] % num_structures == 0
    # inference writes one mask per input, back at the input's own size (80x72, not the 64x64 network grid)
    assert r["infer_masks"] == [[72, 80]] * 3
    gray = {0, 255} if task == "breast" else {0, 1, 2, 3}
    assert set(r["infer_values"]) <= gray
    assert r["checks"]["verify_metadata"] == "ok" and r["checks"]["verify_net_in_out"] == "ok"
    assert r["checks"]["ckpt_export"].startswith("ok")
