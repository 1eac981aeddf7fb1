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

"""The comparison study of ``docs/study.md``: every (task, labelled fraction, method, seed) cell through its bundle
with the same dataset folder and split files, then the tables and figures.

:func:`run_study` prepares one dataset folder per task and one split file per (seed, fraction) before any cell starts
(cells side by side never race to write them, and every bundle reads the very same file), runs the cells with the
chosen executor (finished cells are reused, a failed cell is reported and the others go on), shows progress (cells
done, running, failed, estimated time left), records everything in MLflow (a parent run and a child per cell) and
writes the results folder.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from monai_ext.study.cells import (
    PRESETS,
    VARIANTS,
    StudyCell,
    cpu_model,
    default_bundles_dir,
    resolve_method,
    run_cell,
)
from monai_ext.study.executors import iter_cells

__all__ = ["StudyOptions", "StudyProgress", "build_cells", "prepare_study_data", "run_study"]


@dataclass
class StudyOptions:
    """Everything a study needs; the fields of ``python -m monai_ext study``.

    ``override`` applies to every cell, ``method_overrides[method]`` on top of it to that method's cells (e.g. a
    smaller network for one bundle). ``tracking_uri`` None: ``sqlite:///<out>/mlruns.db``; ``""``: no MLflow.
    ``results_dir`` None: no report (only the cells and MLflow). ``finished_only``: run no cell, report the cells
    finished under ``out`` (e.g. while a long study is still going elsewhere); the others count as not run.
    """

    tasks: Sequence[str]
    labeled: Sequence[float]
    seeds: Sequence[int]
    methods: Sequence[str]
    preset: str
    out: str | os.PathLike
    dataset_dir: str = ""
    results_dir: str | os.PathLike | None = "docs/results"
    jobs: int = 1
    executor: str = "local"
    address: str | None = None
    tracking_uri: str | None = None
    experiment_name: str = "monai_ext_study"
    override: Mapping[str, Any] = field(default_factory=dict)
    method_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    baseline: str | None = "supervised"
    bundles_dir: str | os.PathLike | None = None
    inference: bool = True
    command: str | None = None
    finished_only: bool = False


class StudyProgress:
    """Thread-safe progress lines: ``cells done (reused), running, failed, left, estimated time left``.

    The estimate is the mean duration of the cells that ran in this session times the cells left, divided by the
    number running side by side; unknown until one cell has run.
    """

    def __init__(self, total: int, jobs: int, stream: TextIO | None = None) -> None:
        self.total, self.jobs = total, max(int(jobs), 1)
        self.stream = stream or sys.stderr
        self.done = self.reused = self.failed = self.running = 0
        self.durations: list[float] = []
        self.started: dict[str, float] = {}
        self._lock = threading.Lock()

    def eta_seconds(self) -> float | None:
        left = self.total - self.done - self.failed
        if not self.durations:
            return None
        return sum(self.durations) / len(self.durations) * left / min(self.jobs, max(left, 1))

    def line(self) -> str:
        eta = self.eta_seconds()
        eta_text = "unknown" if eta is None else str(datetime.timedelta(seconds=int(eta)))
        left = self.total - self.done - self.failed
        return (f"[study] {self.done}/{self.total} done ({self.reused} reused), {self.running} running, "
                f"{self.failed} failed, {left} left, estimated time left {eta_text}")

    def start(self, cell: StudyCell) -> None:
        with self._lock:
            self.running += 1
            self.started[cell.name] = time.time()
            print(f"[study] start {cell.name}", file=self.stream, flush=True)
            print(self.line(), file=self.stream, flush=True)

    def finish(self, cell: StudyCell, reused: bool, error: BaseException | None = None, note: str = "") -> None:
        with self._lock:
            self.running = max(self.running - 1, 0)
            elapsed = time.time() - self.started.pop(cell.name, time.time())
            if error is not None:
                self.failed += 1
                print(f"[study] FAILED {cell.name}: {type(error).__name__}: {error}", file=self.stream, flush=True)
            else:
                self.done += 1
                if reused:
                    self.reused += 1
                else:
                    self.durations.append(elapsed)
                print(f"[study] {'reused' if reused else 'done'} {cell.name} ({elapsed:.0f} s){note}",
                      file=self.stream, flush=True)
            print(self.line(), file=self.stream, flush=True)


def build_cells(opts: StudyOptions) -> list[StudyCell]:
    """The cells of a study, ordered by task, fraction, seed, method (the baseline of each seed runs first)."""
    if opts.preset not in PRESETS:
        raise ValueError(f"--preset must be one of {PRESETS}, got {opts.preset!r}.")
    for name, values in (("--tasks", opts.tasks), ("--labeled", opts.labeled), ("--seeds", opts.seeds),
                         ("--methods", opts.methods)):
        if not values:
            raise ValueError(f"{name} is empty.")
    for f in opts.labeled:
        if not 0.0 < float(f) <= 1.0:
            raise ValueError(f"--labeled fractions must be in (0, 1], got {f!r}.")
    resolved = [resolve_method(m, opts.bundles_dir) for m in opts.methods]
    cells = []
    for task in opts.tasks:
        for labeled in opts.labeled:
            for seed in opts.seeds:
                for method, bundle, variant in resolved:
                    cells.append(StudyCell(method, bundle, variant, task, float(labeled), int(seed), opts.preset))
    return cells


def _phantom_settings(bundle_dir: Path, preset: str, override: Mapping[str, Any]) -> tuple[dict, int, int]:
    train = json.loads((bundle_dir / "configs" / "train.json").read_text())
    preset_cfg = {} if preset == "full" else json.loads((bundle_dir / "configs" / f"{preset}.json").read_text())
    num = override.get("phantom#num", preset_cfg.get("phantom#num", train["phantom"]["num"]))
    size = override.get("phantom#size", preset_cfg.get("phantom#size", train["phantom"]["size"]))
    return train["split"], int(num), int(size)


def prepare_study_data(cells: Sequence[StudyCell], out: Path, dataset_dir: str, override: Mapping[str, Any],
                       method_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                       bundles_dir: str | os.PathLike | None = None) -> tuple[dict[str, str], dict[tuple, str]]:
    """One dataset folder per task (``dataset_dir``, or the preset's phantom made once under ``out/data``) and one split
    file per (task, seed, fraction), before any cell runs.

    Returns ``({task: dataset folder}, {(task, seed, fraction): split file})``.

    Raises:
        ValueError: the bundles disagree on the split rules (validation / test fractions, grouping) or on the
            phantom, so they could not share split files.
    """
    from monai_ext.data import prepare_split_file, resolve_dataset_dir

    bundles = Path(bundles_dir) if bundles_dir is not None else default_bundles_dir()
    trained = [c for c in cells if not c.external]
    settings = {}
    for c in trained:
        merged = {**override, **(method_overrides or {}).get(c.method, {})}
        settings[c.method] = _phantom_settings(bundles / c.bundle, c.preset, merged)
    if len({json.dumps(s, sort_keys=True) for s in settings.values()}) > 1:
        raise ValueError(
            "the methods do not share one split rule / phantom (they could not read the same split files): "
            + "; ".join(f"{m}: split {s[0]}, phantom {s[1]} images of {s[2]} px" for m, s in settings.items())
        )
    split_cfg, num, size = next(iter(settings.values())) if settings else ({"val": 0.1, "test": 0.2,
                                                                             "group_by": None}, 200, 256)
    roots, splits = {}, {}
    for task in sorted({c.task for c in cells}):
        phantom = out / "data" / f"phantom_{task}_n{num}_s{size}_seed0"
        roots[task] = resolve_dataset_dir(dataset_dir, str(phantom), task, num, size, 0)
        for c in cells:
            if c.task != task:
                continue
            # the cell's own fraction gives the split every method of the cell shares (same test images); a
            # variant with another fraction (upper bound: all labelled) reads its own, nested, file as well
            for fraction in {c.labeled, float(VARIANTS.get(c.variant, {}).get("split#labeled", c.labeled))}:
                path = prepare_split_file(roots[task], None, split_cfg["val"], split_cfg["test"], fraction, c.seed,
                                          split_cfg.get("group_by"))
                if fraction == c.labeled:
                    splits[(task, c.seed, c.labeled)] = path
    return roots, splits


def _cell_override(opts: StudyOptions, cell: StudyCell, roots: Mapping[str, str]) -> dict[str, Any]:
    return {**opts.override, **opts.method_overrides.get(cell.method, {}), "dataset_dir": roots[cell.task]}


def _run_one(cell: StudyCell, out: str, overrides: Mapping[str, dict], splits: Mapping[str, str],
             bundles_dir: str | None, inference: bool) -> dict[str, Any] | None:
    """The work of one cell (module level, so that Ray can ship it to a worker)."""
    return run_cell(cell, out, overrides[cell.name], splits.get(cell.name), bundles_dir, inference)


def run_study(opts: StudyOptions, stream: TextIO | None = None) -> dict[str, Any]:
    """Run a study; returns ``{"cells": {name: "done" | "reused" | "failed" | "busy"}, "errors": {name: text},
    "report": aggregate or None, "tracking_uri", "parent_run_id"}``."""
    from monai_ext.study.tables import load_cell_record

    t0 = time.time()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if opts.results_dir is not None:
        try:  # fail now, not after the last cell
            import matplotlib  # noqa: F401
        except ImportError as e:
            raise ImportError("the study's figures need matplotlib: pip install 'monai_ext[study]' (or pass "
                              "--no-report).") from e
    out = Path(opts.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    cells = build_cells(opts)
    not_run: dict[str, str] = {}
    if opts.finished_only:
        ready = [c for c in cells if c.external or (out / c.name / "result.json").is_file()]
        not_run = {c.name: "not run yet (--finished-only)" for c in cells if c not in ready}
        cells = ready
    roots, split_by_key = prepare_study_data(cells, out, opts.dataset_dir, opts.override, opts.method_overrides,
                                             opts.bundles_dir)
    splits = {c.name: split_by_key[(c.task, c.seed, c.labeled)] for c in cells}
    overrides = {c.name: _cell_override(opts, c, roots) for c in cells}
    bundles_dir = str(Path(opts.bundles_dir).resolve()) if opts.bundles_dir is not None else None
    work = functools.partial(_run_one, out=str(out), overrides=overrides, splits=splits, bundles_dir=bundles_dir,
                             inference=opts.inference)
    command = opts.command or "python -m monai_ext " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    tracker = None
    uri = f"sqlite:///{out / 'mlruns.db'}" if opts.tracking_uri is None else opts.tracking_uri
    if uri:
        from monai_ext.study.tracking import StudyTracker

        tracker = StudyTracker(uri, opts.experiment_name, str(out), out / "mlartifacts")
        tracker.start({"tasks": ",".join(opts.tasks), "labeled": ",".join(map(str, opts.labeled)),
                       "seeds": ",".join(map(str, opts.seeds)), "methods": ",".join(opts.methods),
                       "preset": opts.preset, "executor": opts.executor, "out": str(out), "command": command})
    progress = StudyProgress(len(cells), opts.jobs, stream)
    status: dict[str, str] = {name: "not run" for name in not_run}
    errors: dict[str, str] = dict(not_run)
    records = []
    print(f"[study] {len(cells)} cells ({len(opts.tasks)} task(s) x {len(opts.labeled)} fraction(s) x "
          f"{len(opts.seeds)} seed(s) x {len(opts.methods)} method(s)), executor {opts.executor}, out {out}",
          file=progress.stream, flush=True)
    for cell, value, error in iter_cells(cells, work, opts.executor, opts.jobs, opts.address, progress.start):
        if error is None and value is None:
            status[cell.name] = "busy"
            progress.finish(cell, True, note=": running in another runner, skipped")
            continue
        record = None
        if error is None:
            try:
                record = load_cell_record(cell, out, splits[cell.name])
            except (OSError, ValueError, KeyError) as e:
                error = e
        if error is not None:
            status[cell.name], errors[cell.name] = "failed", f"{type(error).__name__}: {error}"
            progress.finish(cell, False, error)
            if tracker is not None:
                tracker.log_failure(cell, errors[cell.name])
            continue
        status[cell.name] = "reused" if value["reused"] else "done"
        records.append(record)
        dice = record.result["test"]["overall"]["dice"]["mean"]
        progress.finish(cell, value["reused"], note=f", test mean Dice {dice:.4f}")
        if tracker is not None:
            _log_cell(tracker, record)
    report = None
    if opts.results_dir is not None and records:
        from monai_ext.data import load_split
        from monai_ext.study.report import write_study_report

        labels = {}
        for task in {c.task for c in cells}:
            any_split = next(p for (t, _, _), p in split_by_key.items() if t == task)
            labels[task] = load_split(any_split).get("labels", {})
        context = {"command": command, "started": started, "duration_s": time.time() - t0, "cpu": cpu_model(),
                   "preset": opts.preset, "dataset": {t: r for t, r in roots.items()},
                   "finished_only": opts.finished_only}
        method_override = {c.method: {k: v for k, v in overrides[c.name].items() if k != "dataset_dir"}
                           for c in cells}
        report = write_study_report(records, opts.results_dir, context, opts.baseline, method_override, bundles_dir,
                                    labels, errors)
        print(f"[study] results: {Path(opts.results_dir).resolve() / 'README.md'}", file=progress.stream, flush=True)
    if tracker is not None:
        tracker.finish([Path(f) for f in (report or {}).get("files", [])],
                       {"cells_done": progress.done, "cells_failed": progress.failed}, failed=bool(errors))
    print(progress.line(), file=progress.stream, flush=True)
    return {"cells": status, "errors": errors, "report": report, "tracking_uri": uri,
            "parent_run_id": tracker.parent_id if tracker is not None else None, "out": str(out)}


def _log_cell(tracker: Any, record: Any) -> None:
    from monai_ext.study.statistics import spearman
    from monai_ext.study.tables import per_image_mean_dice

    extra: dict[str, float | None] = {}
    if record.uncertainty:
        dice = per_image_mean_dice(record)
        common = sorted(set(dice) & set(record.uncertainty))
        extra["uncertainty_dice_spearman"], _ = spearman([record.uncertainty[i] for i in common],
                                                         [dice[i] for i in common])
    eval_dir = record.run_dir / "eval"
    artifacts = [eval_dir / "test_metrics_per_image.csv", eval_dir / "test_metrics_summary.json",
                 record.run_dir / "result.json", record.run_dir / "infer" / "uncertainty_scores.csv"]
    tracker.log_cell(record.cell, record.result, artifacts, extra)
