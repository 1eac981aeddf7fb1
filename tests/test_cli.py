# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of `python -m monai_ext`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from monai_ext.cli import build_parser, main


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "monai_ext", "--help"], capture_output=True, text=True, check=True)
    for command in ("phantom", "split", "phantom-clip", "check-bundle", "export-onnx", "quantize", "serve-dicomweb"):
        assert command in out.stdout


def test_phantom_then_split(tmp_path, capsys):
    data = tmp_path / "ph"
    assert main(["phantom", "--task", "cardiac", "--num", "12", "--size", "64", "--seed", "2", "--out", str(data),
                 "--quiet"]) == 0
    assert len(list((data / "images").glob("*.png"))) == 12
    assert main(["split", str(data), "--val", "0.2", "--test", "0.2", "--labeled", "0.5", "--seed", "1"]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1].split("split file: ")[1]
    split = json.loads(open(path).read())
    n = len(split["training"]) + len(split["validation"]) + len(split["test"])
    assert n == 12 and split["labels"] == {"lv": [1], "myocardium": [2], "la": [3]}
    assert any(d["labeled"] for d in split["training"]) and any(not d["labeled"] for d in split["training"])
    # the same command reuses the file; a bad dataset gives one clear line and exit code 2
    assert main(["split", str(data), "--val", "0.2", "--test", "0.2", "--labeled", "0.5", "--seed", "1"]) == 0
    assert main(["split", str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err


def test_phantom_clip(tmp_path):
    out = tmp_path / "clip.dcm"
    assert main(["phantom-clip", "--frames", "4", "--size", "64", "--out", str(out)]) == 0
    ds = pydicom.dcmread(out)
    assert ds.Modality == "US" and int(ds.NumberOfFrames) == 4
    masks = np.load(tmp_path / "clip_masks.npz")["masks"]
    assert masks.shape[0] == 4


def test_bad_arguments_exit_with_usage():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["phantom", "--task", "liver", "--out", "x"])


def test_split_labels_option(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "d"
    for i in range(8):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8), 60, np.uint8)).save(root / "images" / f"a{i}.png")
        m = np.zeros((8, 8), np.uint8)
        m[1:3, 1:3], m[4:6, 4:6] = 1, 2
        Image.fromarray(m).save(root / "masks" / f"a{i}.png")
    assert main(["split", str(root)]) == 2  # the default binary table refuses masks 1 / 2
    assert "unexpected gray values [1, 2]" in capsys.readouterr().err
    assert main(["split", str(root), "--labels", '{"lv": [1], "myocardium": [2]}']) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1].split("split file: ")[1]
    assert json.loads(open(path).read())["labels"] == {"lv": [1], "myocardium": [2]}
    assert main(["split", str(root), "--labels", '{"lv": 1']) == 2
    assert capsys.readouterr().err.startswith("error: --labels must be JSON")


def test_check_bundle_says_it_runs_the_bundle_code_and_names_a_bad_checkpoint(tmp_path, capsys):
    import torch

    from monai_ext.networks.nets import USUNet

    with pytest.raises(SystemExit):
        main(["check-bundle", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "configs are code" in text and "eval" in text and "_target_" in text and "trust" in text
    bundle = Path(__file__).resolve().parents[1] / "bundles" / "supervised_us_segmentation"
    torch.save({"model": USUNet(2, 1, 4, features=[4, 8, 16, 32, 64]).state_dict()}, tmp_path / "cardiac.pt")
    assert main(["check-bundle", str(bundle), "--ckpt-file", str(tmp_path / "cardiac.pt")]) == 2
    # the last line a user sees names the file and the problem (MONAI may warn above it, e.g. about schema hashes)
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error:")]
    assert len(err) == 1 and err[0].startswith(f"error: checkpoint {tmp_path / 'cardiac.pt'}: does not fit network_def")
    assert "entries have other shapes" in err[0]
