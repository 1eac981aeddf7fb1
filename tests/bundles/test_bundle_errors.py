# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Bad input through the real bundle CLI (`python -m monai.bundle run`): the last lines of stderr name the file and
the problem, for inference, evaluation and training, and nothing is trained or written first.

MONAI wraps every error raised while it evaluates a config in `RuntimeError: Failed to evaluate ConfigExpression`;
importing monai_ext installs an excepthook that repeats our error as the final lines (monai_ext.utils.errors).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "supervised_us_segmentation"
SMALL = ["--features", "[4,8,16,32,64]", "--image_size", "[64,64]", "--num_workers", "0"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A copy of the bundle (configs, docs, LICENSE) in which a test may put models/model.pt."""
    dst = tmp_path_factory.mktemp("bundle") / BUNDLE
    shutil.copytree(ROOT / "bundles" / BUNDLE, dst, ignore=shutil.ignore_patterns("models", "eval", "data"))
    return dst


def _bundle_run(bundle: Path, config: str, *args: str) -> list[str]:
    """Run `python -m monai.bundle run`; returns the non-empty lines of stderr (the run must fail)."""
    configs = [str(bundle / "configs" / c) for c in config.split("+")]
    config_file = configs[0] if len(configs) == 1 else str(configs)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file", config_file, "--bundle_root", str(bundle),
         *SMALL, *args],
        capture_output=True, text=True, timeout=600, env=env, cwd=str(bundle),
    )
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any(line.startswith("RuntimeError: Failed to evaluate") for line in lines)  # MONAI's wrapper is there
    return lines


def _png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


def _dataset(root: Path, gray: int = 255, n: int = 10) -> Path:
    """images/ + masks/ with n 32x32 images; masks mark a square with `gray`."""
    rng = np.random.default_rng(0)
    for i in range(n):
        _png(root / "images" / f"im{i}.png", rng.integers(0, 256, (32, 32)))
        m = np.zeros((32, 32))
        m[8:16, 8:16] = gray
        _png(root / "masks" / f"im{i}.png", m)
    return root


def test_inference_bad_png_named_last_nothing_written(bundle, tmp_path):
    _png(tmp_path / "in" / "a.png", np.zeros((40, 48)))
    (tmp_path / "in" / "b.png").write_text("a text file with an image name")
    # "--load_pretrain false" is the string 'false': it must not load (there is no model.pt in the copy)
    lines = _bundle_run(bundle, "inference.json", "--dataset_dir", str(tmp_path / "in"),
                        "--output_dir", str(tmp_path / "out"), "--load_pretrain", "false")
    assert lines[-1] == f"USDatasetError: unreadable image {tmp_path / 'in' / 'b.png'}: cannot identify image file " \
                        f"'{tmp_path / 'in' / 'b.png'}'"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())  # a.png was not segmented


def test_inference_bad_dicom_named_last(bundle, tmp_path):
    from monai_ext.io import write_phantom_clip

    clip, _ = write_phantom_clip(tmp_path / "in" / "clip.dcm", frames=3, size=48, seed=0)
    ds = pydicom.dcmread(clip)
    ds.NumberOfFrames = 0
    ds.save_as(clip)
    _png(tmp_path / "in" / "a.png", np.zeros((40, 48)))
    lines = _bundle_run(bundle, "inference.json", "--dataset_dir", str(tmp_path / "in"),
                        "--output_dir", str(tmp_path / "out"), "--load_pretrain", "False")
    assert lines[-1].startswith(f"USDicomError: {clip}: NumberOfFrames (0028,0008) is ")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_inference_and_evaluation_name_a_checkpoint_that_does_not_fit(bundle, tmp_path):
    from monai_ext.networks.nets import USUNet

    (bundle / "models").mkdir(exist_ok=True)
    model = bundle / "models" / "model.pt"
    torch.save(USUNet(2, 1, 4, features=[4, 8, 16, 32, 64]).state_dict(), model)  # a 3-structure (cardiac) network
    try:
        _png(tmp_path / "in" / "a.png", np.zeros((40, 48)))
        lines = _bundle_run(bundle, "inference.json", "--dataset_dir", str(tmp_path / "in"),
                            "--output_dir", str(tmp_path / "out"))
        assert lines[-1].startswith(f"USCheckpointError: checkpoint {model}: does not fit the network USUNet "
                                    "('model'): 2 of ")
        assert "decoder.out_conv.weight: checkpoint (4, 4, 3, 3), network (2, 4, 3, 3)" in lines[-1]
        data = _dataset(tmp_path / "data")
        lines = _bundle_run(bundle, "train.json+evaluate.json", "--dataset_dir", str(data))
        assert lines[-1].startswith(f"USCheckpointError: checkpoint {model}: does not fit the network USUNet")
    finally:
        model.unlink()


def test_training_names_the_mask_and_the_bundle_option(bundle, tmp_path):
    data = _dataset(tmp_path / "cardiac", gray=2)  # gray value 2: a cardiac mask, trained with the breast task
    lines = _bundle_run(bundle, "train.json", "--dataset_dir", str(data), "--task", "breast")
    assert lines[-1].startswith(f"USDatasetError: mask {data / 'masks' / 'im0.png'}: unexpected gray values [2]")
    assert "pass the --task of these masks" in lines[-1]
    assert not (bundle / "models").exists() or not list((bundle / "models").rglob("*.pt"))  # nothing was trained
