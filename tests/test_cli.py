# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of `python -m monai_ext`."""

from __future__ import annotations

import json
import subprocess
import sys

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
