# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.study.nnunet: a phantom split exported in nnU-Net v2's raw format and read back with nnU-Net's
own dataset checks (nnunetv2, an optional test dependency; no training), then nnU-Net-style predictions scored with
the project's metric code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_ext.cli import main as cli_main
from monai_ext.data import load_split, make_split_file, output_stem, write_phantom_dataset
from monai_ext.study.nnunet import export_nnunet, import_nnunet_predictions, mask_to_label_index


@pytest.fixture(scope="module")
def cardiac_split(tmp_path_factory):
    root = write_phantom_dataset(tmp_path_factory.mktemp("data") / "cardiac", task="cardiac", num=20, size=64,
                                 seed=2, progress=False)
    return str(make_split_file(root, labeled=0.25, seed=0))


def test_export_reads_back_with_nnunet_checks(cardiac_split, tmp_path):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity",
                                 reason="nnunetv2 (optional test dependency) is not installed")
    split = load_split(cardiac_split)
    out = tmp_path / "nnUNet_raw" / "Dataset501_CardiacPhantom"
    assert export_nnunet(cardiac_split, out, labeled_only=True) == out
    dataset = json.loads((out / "dataset.json").read_text())
    labelled = [it for it in split["training"] if it["labeled"]]
    assert dataset["labels"] == {"background": 0, "lv": 1, "myocardium": 2, "la": 3}
    assert dataset["channel_names"] == {"0": "US"} and dataset["file_ending"] == ".png"
    assert dataset["numTraining"] == len(labelled)
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == sorted(
        f"{output_stem(it['image'])}_0000.png" for it in labelled)
    assert len(list((out / "imagesTs").iterdir())) == len(split["test"])
    label = np.asarray(Image.open(out / "labelsTr" / f"{output_stem(labelled[0]['image'])}.png"))
    assert set(np.unique(label)) <= {0, 1, 2, 3} and label.dtype == np.uint8
    verify.verify_dataset_integrity(str(out), num_processes=1)  # raises on any problem
    manifest = json.loads((out / "monai_ext_split.json").read_text())
    assert manifest["labeled_only"] is True and len(manifest["split_sha256"]) == 64
    # without --labeled-only the validation images join the training set
    full = export_nnunet(cardiac_split, tmp_path / "nnUNet_raw" / "Dataset502_CardiacPhantom")
    assert json.loads((full / "dataset.json").read_text())["numTraining"] == len(labelled) + len(split["validation"])
    verify.verify_dataset_integrity(str(full), num_processes=1)


def test_export_refuses_bad_names_and_existing_folders(cardiac_split, tmp_path):
    with pytest.raises(ValueError, match="Dataset501_Breast"):
        export_nnunet(cardiac_split, tmp_path / "my_dataset")
    (tmp_path / "Dataset503_X").mkdir()
    with pytest.raises(FileExistsError, match="never"):
        export_nnunet(cardiac_split, tmp_path / "Dataset503_X")
    assert cli_main(["export-nnunet", cardiac_split, "--out", str(tmp_path / "bad-name")]) == 2


def test_import_scores_predictions(cardiac_split, tmp_path):
    split = load_split(cardiac_split)
    root = split["dataset_dir"]
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    test = split["test"]
    for k, it in enumerate(test):  # perfect predictions, except an empty one for the first image
        index = mask_to_label_index(Path(root) / it["label"], split["labels"])
        Image.fromarray(np.zeros_like(index) if k == 0 else index).save(pred_dir / f"{output_stem(it['image'])}.png")
    cell = tmp_path / "study" / "nnunet_cardiac_l0.25_s0"
    assert cli_main(["export-nnunet", cardiac_split, "--import-nnunet", str(pred_dir), "--out", str(cell)]) == 0
    result = json.loads((cell / "result.json").read_text())
    assert (result["bundle"], result["task"], result["labeled"], result["seed"]) == ("nnunet", "cardiac", 0.25, 0)
    n = len(test)
    for s in ("lv", "myocardium", "la"):  # Dice 0 on the missed image (structures present), 1 elsewhere
        assert result["test"]["structures"][s]["dice"]["mean"] == pytest.approx((n - 1) / n)
        assert result["test"]["structures"][s]["counts"]["missed"] == 1
    rows = (cell / "eval" / "test_metrics_per_image.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * n
    with pytest.raises(FileExistsError):
        import_nnunet_predictions(cardiac_split, pred_dir, cell)
    (pred_dir / f"{output_stem(test[1]['image'])}.png").unlink()
    shutil.rmtree(cell)
    with pytest.raises(FileNotFoundError, match="no prediction for 1 test case"):
        import_nnunet_predictions(cardiac_split, pred_dir, cell)
