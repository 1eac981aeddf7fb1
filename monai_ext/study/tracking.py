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

"""MLflow records of a comparison study (``docs/study.md``): one parent run for the study and one child run per cell
(tag ``mlflow.parentRunId``) with the cell's parameters, test metrics and artifacts (per-image CSV, summary JSON,
``result.json``, uncertainty scores).

Only the study process writes (cells' bundle processes are not tracked), so a sqlite store
(``sqlite:///OUT/mlruns.db`` by default) never sees two writers. Runs are found again by tags: a re-run of the same
study (same output folder) reuses its parent run and does not log a finished cell twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_ext.study.cells import StudyCell

__all__ = ["StudyTracker", "cell_metrics", "cell_params"]

_STUDY_TAG, _CELL_TAG = "monai_ext.study", "monai_ext.cell"


def cell_params(cell: StudyCell, result: Mapping[str, Any]) -> dict[str, str]:
    """The parameters logged with a cell (strings, at most 500 characters each)."""
    params = {"method": cell.method, "bundle": cell.bundle, "variant": cell.variant or "none", "task": cell.task,
              "labeled_fraction": cell.labeled, "seed": cell.seed, "preset": cell.preset,
              "override": json.dumps(result.get("override", {}), sort_keys=True),
              "git_commit": result.get("git_commit"),
              "cpu": result.get("cpu"), "unit": result.get("test", {}).get("unit_label")}
    return {k: str(v)[:500] for k, v in params.items() if v is not None}


def cell_metrics(result: Mapping[str, Any], extra: Mapping[str, float | None] | None = None) -> dict[str, float]:
    """Test metrics (``test_<metric>_<structure>``, ``test_<metric>_present_<structure>``, ``test_mean_<metric>``),
    ``best_val_dice``, training wall / CPU time and peak RSS of a cell, plus ``extra`` (None values dropped)."""
    test = result.get("test", {})
    metrics: dict[str, float | None] = {}
    for s, entry in test.get("structures", {}).items():
        for m in ("dice", "iou", "hd95"):
            if m in entry:
                metrics[f"test_{m}_{s}"] = entry[m].get("mean")
                metrics[f"test_{m}_present_{s}"] = entry[m].get("mean_present")
    for m, entry in test.get("overall", {}).items():
        if m in ("dice", "iou", "hd95"):
            metrics[f"test_mean_{m}"] = entry.get("mean")
    metrics["best_val_dice"] = result.get("best_val_dice")
    train = result.get("timings", {}).get("train") or {}
    for k in ("wall_s", "cpu_s", "peak_rss_mb"):
        metrics[f"train_{k}"] = train.get(k)
    metrics.update(extra or {})
    return {k: float(v) for k, v in metrics.items() if v is not None}


class StudyTracker:
    """Parent and child MLflow runs of one study, written through :class:`mlflow.tracking.MlflowClient`.

    Args:
        tracking_uri: MLflow tracking URI (``sqlite:///.../mlruns.db``, ``http://...``).
        experiment_name: experiment of the runs (created with its artifacts under ``artifact_root``).
        study_key: identifies the study across re-runs (the resolved output folder).
        artifact_root: artifact folder of a new experiment (a local path; ignored for an existing one).
    """

    def __init__(self, tracking_uri: str, experiment_name: str, study_key: str, artifact_root: str | Path) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            Path(artifact_root).mkdir(parents=True, exist_ok=True)
            self.experiment_id = self.client.create_experiment(
                experiment_name, artifact_location=Path(artifact_root).resolve().as_uri()
            )
        else:
            self.experiment_id = experiment.experiment_id
        self.study_key = study_key
        self.parent_id: str | None = None

    def _search(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=1000)

    def start(self, params: Mapping[str, Any], run_name: str = "study") -> str:
        """Find (re-run) or create the parent run, mark it running, log ``params`` on creation; returns its id."""
        found = self._search(f"tags.`{_STUDY_TAG}` = '{self.study_key}'")
        found = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
        if found:
            self.parent_id = found[0].info.run_id
            self.client.update_run(self.parent_id, status="RUNNING")
        else:
            run = self.client.create_run(self.experiment_id, run_name=run_name,
                                         tags={_STUDY_TAG: self.study_key})
            self.parent_id = run.info.run_id
            for k, v in params.items():
                self.client.log_param(self.parent_id, k, str(v)[:500])
        return self.parent_id

    def logged_cells(self) -> set[str]:
        """Names of the cells with a finished child run under the parent."""
        runs = self._search(f"tags.`mlflow.parentRunId` = '{self.parent_id}'")
        return {r.data.tags.get(_CELL_TAG) for r in runs if r.info.status == "FINISHED"}

    def log_cell(self, cell: StudyCell, result: Mapping[str, Any], artifacts: list[Path],
                 extra_metrics: Mapping[str, float | None] | None = None) -> str | None:
        """A FINISHED child run for a finished cell (None when it is logged already)."""
        if cell.name in self.logged_cells():
            return None
        from mlflow.entities import Metric, Param

        run = self.client.create_run(self.experiment_id, run_name=cell.name,
                                     tags={"mlflow.parentRunId": self.parent_id, _CELL_TAG: cell.name,
                                           _STUDY_TAG + ".child": self.study_key})
        rid = run.info.run_id
        params = [Param(k, v) for k, v in cell_params(cell, result).items()]
        metrics = [Metric(k, v, 0, 0) for k, v in cell_metrics(result, extra_metrics).items()]
        self.client.log_batch(rid, metrics=metrics, params=params)
        for path in artifacts:
            if path.is_file():
                self.client.log_artifact(rid, str(path))
        self.client.set_terminated(rid, "FINISHED")
        return rid

    def log_failure(self, cell: StudyCell, error: str) -> str:
        """A FAILED child run holding the error (a later success adds a FINISHED one)."""
        run = self.client.create_run(self.experiment_id, run_name=cell.name,
                                     tags={"mlflow.parentRunId": self.parent_id, _CELL_TAG: cell.name,
                                           "error": error[-4000:]})
        self.client.set_terminated(run.info.run_id, "FAILED")
        return run.info.run_id

    def finish(self, artifacts: list[Path], metrics: Mapping[str, float] | None = None, failed: bool = False) -> None:
        """Log the report files and summary metrics to the parent run and end it."""
        for path in artifacts:
            if Path(path).is_file():
                self.client.log_artifact(self.parent_id, str(path), artifact_path="results")
        for k, v in (metrics or {}).items():
            self.client.log_metric(self.parent_id, k, float(v))
        self.client.set_terminated(self.parent_id, "FAILED" if failed else "FINISHED")
