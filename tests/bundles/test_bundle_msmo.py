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
"""The MSMO bundle trains (tracked in MLflow), validates, evaluates, infers and passes the offline checks at tiny size,
in its own subprocess (docs/methods/bundles.md, "Tests of bundles")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("msmo_worker.py")
NAMES = {"cardiac": ["lv", "myocardium", "la"], "breast": ["lesion"]}


def run_worker(task: str, decoder: str, tmp_path: Path) -> dict:
    result = tmp_path / "result.json"
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(ROOT / "bundles" / "msmo_us_segmentation"), str(tmp_path), task, decoder,
         uri, str(result)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(result.read_text())


@pytest.mark.slow
def test_msmo_bundle_cardiac_hconvlstm(tmp_path):
    r = run_worker("cardiac", "hconvlstm", tmp_path)
    assert r["train_properties"] == [] and r["infer_properties"] == []
    assert r["network"] == {"class": "MSMONet", "decoder": "hconvlstm", "channels_last": True}
    # 6 labelled images at batch 2: 3 iterations per epoch, 2 epochs, validation after each epoch
    assert (r["train_iterations"], r["train_epochs"], r["validations"]) == (6, 2, 2)
    # per-epoch cosine over 2 epochs: 0.01 during epoch 1, eta_min + (0.01 - eta_min) / 2 during epoch 2
    assert r["lrs"] == pytest.approx([0.01] * 3 + [0.005005] * 3, abs=1e-12)
    assert r["loss_check"][0] == pytest.approx(r["loss_check"][1], rel=1e-6)
    assert {"models/model.pt", "models/resume/checkpoint_checkpoint_iteration=6.pt"} <= set(r["checkpoints"])
    names = NAMES["cardiac"]
    expected = {f"val_{m}_{n}" for m in ("dice", "iou", "hd95") for n in names} | {"val_mean_dice", "val_mean_iou"}
    assert expected <= set(r["val_metrics"])
    assert all(0.0 <= r["val_metrics"][f"val_dice_{n}"] <= 1.0 for n in names)
    # MLflow: losses, learning rate, consistency weight, per-structure validation metrics, parameters, config
    assert {"train_loss", "lr_group_0", "loss_sup", "loss_cons", "consistency_weight"} <= set(r["mlflow_metrics"])
    assert expected <= set(r["mlflow_metrics"])
    assert r["mlflow_history_train_loss"] == 6
    assert r["mlflow_params"] == {"method": "msmo", "task": "cardiac", "decoder": "hconvlstm",
                                  "lr_schedule": "cosine_epoch", "epochs": "2"}
    assert any(a.startswith("config_") for a in r["mlflow_artifacts"])
    # evaluation on the test split: its own closed MLflow run, per-structure metrics, one CSV row per image and object
    assert r["eval_run_status"] == ["FINISHED"]
    assert {f"test_{m}_{n}" for m in ("dice", "iou", "hd95") for n in names} <= set(r["eval_run_metrics"])
    # an evaluation run logs its scores under test_ names only (no val_* copy that reads as validation in MLflow)
    assert [m for m in r["eval_run_metrics"] if m.startswith("val_")] == []
    assert {"test_mean_iou", "test_mean_hd95"} <= set(r["eval_run_metrics"])
    assert {"structures", "overall", "per_image_csv"} <= set(r["test_summary_keys"])
    assert r["test_csv_rows"] > 0 and r["test_csv_rows"] % 3 == 0
    # inference: one mask per input at the input's own size (80x72), cardiac gray values only
    assert r["infer_masks"] == [[72, 80]] * 3
    assert set(r["infer_values"]) <= {0, 1, 2, 3}
    # label map: highest probability among objects above 0.5 (pixel 0: lv 0.6 < myocardium 0.7 -> 2); none above 0.5
    # -> background (pixel 1); exactly 0.5 is not above (pixel 2)
    assert r["label_map"] == [2, 0, 0]
    assert r["object_masks"] == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]  # objects 1 and 2 overlap on the first pixel
    assert r["writer"] == {"pred_key": "pred_masks", "overlapping": True}
    assert r["checks"]["verify_metadata"] == "ok" and r["checks"]["verify_net_in_out"] == "ok"
    assert r["checks"]["ckpt_export"].startswith("ok")
