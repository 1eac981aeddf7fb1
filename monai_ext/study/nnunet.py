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

"""nnU-Net v2 as an external supervised baseline on exactly our split (``docs/study.md``, "nnU-Net").

:func:`export_nnunet` writes a split file's training images and test images in nnU-Net v2's raw format
(``DatasetXXX_Name/{imagesTr, labelsTr, imagesTs}`` + ``dataset.json``): lossless 8-bit PNG, one channel
(``<case>_0000.png``), label maps with consecutive integers (0 background, ``i`` the ``i``-th structure of the split's
label table), case = the image's file stem. With ``labeled_only`` the training set is the labelled subset the bundles
trained on; otherwise the validation images are added too (nnU-Net selects its checkpoint by its own
cross-validation, so our validation images are training data for it). ``monai_ext_split.json`` records the split
file, its hash and the cases.

:func:`import_nnunet_predictions` scores nnU-Net's test predictions (``<case>.png`` label maps, as
``nnUNetv2_predict`` writes them) with the project's metric code and writes a cell folder like the study's
(``eval/test_metrics_summary.json``, ``eval/test_metrics_per_image.csv``, ``result.json``), so that method
``nnunet`` joins the study tables.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NNUNET_DATASET_NAME", "export_nnunet", "import_nnunet_predictions", "mask_to_label_index"]

#: nnU-Net finds raw datasets by their folder name: ``Dataset`` + three digits + ``_`` + a name.
NNUNET_DATASET_NAME = re.compile(r"^Dataset\d{3}_[A-Za-z0-9][A-Za-z0-9_\-]*$")


def mask_to_label_index(path: Path, labels: Mapping[str, Sequence[int]]) -> np.ndarray:
    """A mask file of the dataset (gray values of its label table; RGB(A) masks: any channel) as a uint8 index map."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the mask ({e}).") from None
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)
    out = np.zeros(arr.shape, dtype=np.uint8)
    for i, values in enumerate(labels.values(), start=1):
        out[np.isin(arr, list(values))] = i
    return out


def _gray(path: Path) -> tuple[np.ndarray, str]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.asarray(im if mode == "L" else im.convert("L"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the image ({e}).") from None
    return arr, mode


def _case_id(item: Mapping[str, Any]) -> str:
    from monai_ext.data import output_stem

    return output_stem(item["image"])


def export_nnunet(split_file: str | os.PathLike, out: str | os.PathLike, labeled_only: bool = False,
                  dataset_dir: str | os.PathLike | None = None, channel_name: str = "US") -> Path:
    """Write the split in nnU-Net v2's raw format under ``out`` (``.../nnUNet_raw/DatasetXXX_Name``); returns it.

    Args:
        split_file: a project split file (``python -m monai_ext split``).
        out: the dataset folder to create; its name must be ``DatasetXXX_Name``; it must not exist yet (an output is
            never overwritten).
        labeled_only: training set = the split's labelled training images only (else + the validation images).
        dataset_dir: the dataset folder (default: the split's own ``dataset_dir``).
        channel_name: the channel name in ``dataset.json`` (nnU-Net normalises channels not named CT per image).

    Raises:
        ValueError: a bad folder name, duplicate case ids, an unlabelled split, unreadable or mismatched files.
        FileExistsError: ``out`` exists.
    """
    from monai_ext.data import load_split, split_file_sha256

    out = Path(out).expanduser()
    if not NNUNET_DATASET_NAME.match(out.name):
        raise ValueError(
            f"--out {out}: nnU-Net finds raw datasets by their folder name, which must look like Dataset501_Breast "
            "(Dataset + three digits + _ + a name)."
        )
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another DatasetXXX_Name (outputs are never "
                              "overwritten).")
    split = load_split(split_file)
    labels = split.get("labels") or {}
    if not labels:
        raise ValueError(f"{split_file}: the split has no label table (an unlabelled dataset cannot train nnU-Net).")
    root = Path(dataset_dir or split.get("dataset_dir") or Path(split_file).resolve().parents[1])
    train = [it for it in split["training"] if it.get("labeled")] + ([] if labeled_only else split["validation"])
    test = list(split["test"])
    cases = [_case_id(it) for it in train + test]
    duplicates = sorted({c for c in cases if cases.count(c) > 1})
    if duplicates:
        raise ValueError(f"{split_file}: image names {duplicates[:5]} occur twice; nnU-Net case ids must be unique.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        from PIL import Image

        for sub in ("imagesTr", "labelsTr", "imagesTs"):
            (tmp / sub).mkdir()
        converted = []
        manifest_train = {}
        for it in train:
            case = _case_id(it)
            image, mode = _gray(root / it["image"])
            label = mask_to_label_index(root / it["label"], labels)
            if image.shape != label.shape:
                raise ValueError(f"{root / it['image']}: image {image.shape} and mask {label.shape} differ in size.")
            if mode != "L":
                converted.append(it["image"])
            Image.fromarray(image).save(tmp / "imagesTr" / f"{case}_0000.png")
            Image.fromarray(label).save(tmp / "labelsTr" / f"{case}.png")
            manifest_train[case] = {"image": it["image"], "label": it["label"]}
        manifest_test = {}
        for it in test:
            case = _case_id(it)
            image, mode = _gray(root / it["image"])
            if mode != "L":
                converted.append(it["image"])
            Image.fromarray(image).save(tmp / "imagesTs" / f"{case}_0000.png")
            manifest_test[case] = {"image": it["image"], "label": it.get("label")}
        dataset = {
            "name": out.name,
            "description": f"monai_ext split {Path(split_file).name} of {split.get('name', root.name)}"
                           + (" (labelled training images only)" if labeled_only else
                              " (labelled training + validation images)"),
            "reference": str(Path(split_file).resolve()),
            "licence": "see the source dataset",
            "channel_names": {"0": channel_name},
            "labels": {"background": 0, **{name: i for i, name in enumerate(labels, start=1)}},
            "numTraining": len(train),
            "file_ending": ".png",
        }
        (tmp / "dataset.json").write_text(json.dumps(dataset, indent=2))
        manifest = {"split_file": str(Path(split_file).resolve()), "split_sha256": split_file_sha256(split_file),
                    "dataset_dir": str(root), "labeled_only": bool(labeled_only), "labels": labels,
                    "converted_to_gray": converted, "train": manifest_train, "test": manifest_test}
        (tmp / "monai_ext_split.json").write_text(json.dumps(manifest, indent=2))
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def import_nnunet_predictions(split_file: str | os.PathLike, pred_dir: str | os.PathLike,
                              out: str | os.PathLike, task: str | None = None,
                              dataset_dir: str | os.PathLike | None = None) -> Path:
    """Score nnU-Net's predictions of the split's test images; write a study cell folder at ``out``; returns its
    ``result.json``.

    Args:
        split_file: the split file that was exported.
        pred_dir: nnU-Net's output folder (``<case>.png`` label maps, values 0..number of structures).
        out: the cell folder, e.g. ``<study out>/nnunet_breast_l0.125_s0`` (created; an existing ``result.json`` is
            not overwritten).
        task: the task name of the study (default: the dataset's ``dataset.json`` ``task``).
        dataset_dir: the dataset folder (default: the split's own).

    Raises:
        FileNotFoundError: a test case without prediction.
        FileExistsError: ``out/result.json`` exists.
        ValueError: a prediction of another size than its ground truth, or with labels outside the table.
    """
    import torch

    from monai_ext.data import load_split
    from monai_ext.metrics import compute_us_segmentation_metrics, summarize_us_metrics, write_us_metrics_csv

    split = load_split(split_file)
    labels = split.get("labels") or {}
    root = Path(dataset_dir or split.get("dataset_dir") or Path(split_file).resolve().parents[1])
    pred_dir, out = Path(pred_dir).expanduser(), Path(out).expanduser()
    if (out / "result.json").exists():
        raise FileExistsError(f"{out / 'result.json'} exists; remove the folder to import again.")
    if task is None:
        meta = root / "dataset.json"
        task = json.loads(meta.read_text()).get("task") if meta.is_file() else None
        if not task:
            raise ValueError(f"{root}: no task in dataset.json; pass --task (the study's task name).")
    missing = [_case_id(it) for it in split["test"] if not (pred_dir / f"{_case_id(it)}.png").is_file()]
    if missing:
        raise FileNotFoundError(f"{pred_dir}: no prediction for {len(missing)} test case(s), e.g. {missing[:3]} "
                                "(expected <case>.png from nnUNetv2_predict on imagesTs).")
    n = len(labels)
    preds, gts, ids = [], [], []
    for it in split["test"]:
        case = _case_id(it)
        gt = mask_to_label_index(root / it["label"], labels)
        from PIL import Image

        with Image.open(pred_dir / f"{case}.png") as im:
            pred = np.asarray(im)
        if pred.shape != gt.shape:
            raise ValueError(f"{pred_dir / (case + '.png')}: prediction {pred.shape} but ground truth {gt.shape}.")
        if pred.size and (pred.min() < 0 or pred.max() > n):
            raise ValueError(f"{pred_dir / (case + '.png')}: labels {sorted(np.unique(pred))[:8]} outside 0..{n}.")
        preds.append(torch.from_numpy(np.stack([pred == i for i in range(1, n + 1)]).astype(np.float32)))
        gts.append(torch.from_numpy(np.stack([gt == i for i in range(1, n + 1)]).astype(np.float32)))
        ids.append(case)
    values = compute_us_segmentation_metrics(preds, gts)
    categories = values.pop("category")
    eval_dir = out / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    names = list(labels)
    csv_path = write_us_metrics_csv(eval_dir / "test_metrics_per_image.csv", values, categories, names, ids)
    summary = summarize_us_metrics(values, categories, names, ids)
    summary["per_image_csv"] = csv_path.name
    (eval_dir / "test_metrics_summary.json").write_text(json.dumps(summary, indent=2))
    result = {
        "bundle": "nnunet", "variant": "", "task": task, "labeled": split.get("labeled_fraction"),
        "seed": split.get("split_seed"), "preset": "external", "override": {}, "best_val_dice": None,
        "best_val_epoch": None, "test": summary, "timings": {}, "method": "nnunet",
        "command": f"nnU-Net predictions imported from {pred_dir.resolve()}", "cpu": None,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "split_file": str(Path(split_file).resolve()),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return out / "result.json"
