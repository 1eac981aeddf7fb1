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

"""The ``study`` and ``export-nnunet`` sub-commands of ``python -m monai_ext`` (``docs/study.md``).

This module imports nothing heavy at import time (``--help`` stays fast); the work is in
:mod:`monai_ext.study.runner` and :mod:`monai_ext.study.nnunet`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_study_commands"]


def _csv(kind: type):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from e
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one value, got {text!r}")
        return values

    return parse


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object ({{...}}), got {text!r}")
    return value


def _cmd_study(args: argparse.Namespace) -> int:
    from monai_ext.study.runner import StudyOptions, run_study

    opts = StudyOptions(
        tasks=args.tasks, labeled=args.labeled, seeds=args.seeds, methods=args.methods, preset=args.preset,
        out=args.out, dataset_dir=args.dataset_dir, results_dir=None if args.no_report else args.results_dir,
        jobs=args.jobs, executor=args.executor, address=args.address, tracking_uri=args.tracking_uri,
        experiment_name=args.experiment_name, override=args.override, method_overrides=args.method_overrides,
        baseline=None if args.baseline == "none" else args.baseline, inference=not args.no_inference,
        finished_only=args.finished_only,
    )
    outcome = run_study(opts)
    return 1 if outcome["errors"] else 0


def _cmd_export_nnunet(args: argparse.Namespace) -> int:
    from monai_ext.study.nnunet import export_nnunet, import_nnunet_predictions

    if args.import_nnunet:
        result = import_nnunet_predictions(args.split_file, args.import_nnunet, args.out, task=args.task,
                                           dataset_dir=args.dataset_dir)
        summary = json.loads(result.read_text())["test"]
        print(f"scored {summary['num_images']} nnU-Net predictions: test mean Dice "
              f"{summary['overall']['dice']['mean']:.4f}; cell written to {result.parent} (list method nnunet in "
              "`python -m monai_ext study` with this folder under --out to add it to the tables)")
        return 0
    out = export_nnunet(args.split_file, args.out, labeled_only=args.labeled_only, dataset_dir=args.dataset_dir)
    n = json.loads((out / "dataset.json").read_text())["numTraining"]
    print(f"wrote nnU-Net raw dataset {out}: {n} training cases, "
          f"{len(list((out / 'imagesTs').glob('*.png')))} test images (nnUNetv2_plan_and_preprocess -d "
          f"{int(out.name[7:10])} --verify_dataset_integrity, then train the 2d configuration)")
    return 0


def add_study_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``study`` and ``export-nnunet`` on the sub-parsers of ``python -m monai_ext``."""
    p = sub.add_parser(
        "study",
        help="the comparison study: every method x task x labelled fraction x seed through the bundles",
        description="Train every method on the same split files (one per task, seed and labelled fraction), select "
        "each checkpoint on the validation split, score it once on the test split, then write the tables and "
        "figures (Markdown + PNG) and record everything in MLflow (a parent run and a child per cell). Finished "
        "cells are reused (the folder names of scripts/bench_ssl_phantom.py); a failed cell is reported and the "
        "others go on (exit code 1 at the end).",
    )
    p.add_argument("--tasks", type=_csv(str), default=["breast"], help="comma-separated tasks (breast,cardiac,thyroid)")
    p.add_argument("--labeled", type=_csv(float), default=[0.125], help="comma-separated labelled fractions")
    p.add_argument("--seeds", type=_csv(int), default=[0, 1, 2], help="comma-separated seeds (split + training)")
    p.add_argument("--methods", type=_csv(str), default=["supervised", "meanteacher", "cct", "mgcc", "msmo"],
                   help="comma-separated methods: supervised, meanteacher, cct, mgcc, msmo, sabr, nnunet (imported), "
                   "METHOD:VARIANT (mgcc:notaps, mgcc:synthetic, msmo:unet_msag, supervised:upper)")
    p.add_argument("--preset", choices=["quick", "research", "full"], default="quick",
                   help="configs/<preset>.json over train.json (full: train.json alone)")
    p.add_argument("--dataset_dir", "--dataset-dir", default="",
                   help="your dataset folder (default: the preset's phantom, made once under OUT/data)")
    p.add_argument("--out", required=True, help="folder of the cells (shared by all workers with --executor ray)")
    p.add_argument("--results_dir", "--results-dir", default="docs/results", help="tables and figures (default "
                   "docs/results)")
    p.add_argument("--no-report", action="store_true", help="write no tables / figures")
    p.add_argument("--jobs", type=int, default=1, help="cells side by side (local executor; CPUs of a local Ray)")
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="local processes or Ray tasks")
    p.add_argument("--address", default=None, help="Ray cluster address (default / 'local': a local Ray instance)")
    p.add_argument("--tracking_uri", "--tracking-uri", default=None,
                   help="MLflow tracking URI (default sqlite:///OUT/mlruns.db; '' for none)")
    p.add_argument("--experiment_name", default="monai_ext_study", help="MLflow experiment (default monai_ext_study)")
    p.add_argument("--override", type=_json_dict, default={}, help="JSON config overrides for every cell")
    p.add_argument("--method_overrides", "--method-overrides", type=_json_dict, default={},
                   help='JSON {"method": {overrides}} for one method\'s cells')
    p.add_argument("--baseline", default="supervised", help="the labelled-only method ('none': no gains)")
    p.add_argument("--no-inference", action="store_true",
                   help="skip the test-split inference (no overlays, no uncertainty correlation)")
    p.add_argument("--finished-only", action="store_true",
                   help="run nothing: tables and figures from the cells already finished under --out (the others "
                   "are listed as not run)")
    p.set_defaults(func=_cmd_study)

    p = sub.add_parser(
        "export-nnunet",
        help="write a split in nnU-Net v2's raw format, or score nnU-Net's predictions (--import-nnunet)",
        description="Export: imagesTr/<case>_0000.png, labelsTr/<case>.png (consecutive label ints), imagesTs and "
        "dataset.json, so nnU-Net trains on exactly this split. Import: score nnU-Net's test predictions with the "
        "project's metric code into a study cell folder (method nnunet).",
    )
    p.add_argument("split_file", help="split file (python -m monai_ext split)")
    p.add_argument("--out", required=True, help="export: nnUNet_raw/DatasetXXX_Name; import: the cell folder, e.g. "
                   "STUDY_OUT/nnunet_breast_l0.125_s0")
    p.add_argument("--labeled-only", action="store_true",
                   help="training set = the labelled training images only (default: + the validation images)")
    p.add_argument("--import-nnunet", metavar="PRED_DIR", default=None, help="score nnU-Net's predictions instead")
    p.add_argument("--task", default=None, help="task name for an import (default: the dataset's)")
    p.add_argument("--dataset-dir", default=None, help="dataset folder (default: the split's own)")
    p.set_defaults(func=_cmd_export_nnunet)
