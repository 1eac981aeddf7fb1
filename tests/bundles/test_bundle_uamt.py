# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""UA-MT through the Mean Teacher bundle's `uamt.json` overlay, run by `python -m monai.bundle run`: a method object
plus an overlay, no trainer edit; its mask ratio reaches MLflow and its teacher the resumable checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "meanteacher_us_segmentation"


@pytest.mark.slow
def test_uamt_overlay_trains_and_logs_mask_ratio(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlruns.db"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           str([str(BUNDLE / "configs" / c) for c in ("train.json", "quick.json", "uamt.json")]),
           "--bundle_root", str(BUNDLE), "--phantom#num", "24", "--phantom#size", "64",
           "--phantom#dir", str(tmp_path / "data"), "--image_size", "[64, 64]", "--max_iterations", "6",
           "--val_interval", "3", "--checkpoint_interval", "3", "--labeled_batch_size", "2",
           "--unlabeled_batch_size", "2", "--split#labeled", "0.25", "--ckpt_dir", str(tmp_path / "models"),
           "--output_dir", f"$'{tmp_path / 'eval'}'", "--tracking", "mlflow", "--tracking_uri", uri]
    proc = subprocess.run(cmd, cwd=str(BUNDLE), env=dict(os.environ, OMP_NUM_THREADS="2"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("uamt_us_segmentation").experiment_id])[0]
    assert {"mask_ratio", "uncertainty_threshold", "loss_cons", "train_loss"} <= set(run.data.metrics)
    history = client.get_metric_history(run.info.run_id, "mask_ratio")
    assert len(history) >= 2 and all(0.0 <= m.value <= 1.0 for m in history)
    thresholds = [m.value for m in client.get_metric_history(run.info.run_id, "uncertainty_threshold")]
    assert thresholds == sorted(thresholds) and 0.75 * 0.6931 < thresholds[0] < thresholds[-1] <= 0.6932
    assert run.data.params["method"] == "uncertainty_mean_teacher"
    state = torch.load(tmp_path / "models" / "resume" / "checkpoint_final.pt", weights_only=True)
    assert set(state["method"]["teacher"]) == set(state["model"])
