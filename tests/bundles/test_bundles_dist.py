# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""multi_gpu_train.json, with a CPU/gloo overlay, under torchrun with two processes (docs/methods/bundles.md, "Multi-GPU
training")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monai_ext.data import write_phantom_dataset

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "meanteacher_us_segmentation"


@pytest.mark.slow
def test_meanteacher_multi_process_training_with_gloo(tmp_path):
    data = write_phantom_dataset(tmp_path / "data", task="breast", num=24, size=64, seed=5, progress=False)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    configs = [str(BUNDLE / "configs" / f) for f in ("train.json", "multi_gpu_train.json")]
    configs.append(str(Path(__file__).with_name("cpu_dist_overlay.json")))
    overrides = {
        "bundle_root": str(BUNDLE), "dataset_dir": str(data), "ckpt_dir": str(tmp_path / "models"),
        "output_dir": str(tmp_path / "eval"), "image_size": [64, 64], "features": [4, 8, 16, 32, 64],
        "labeled_batch_size": 2, "unlabeled_batch_size": 2, "max_iterations": 4, "val_interval": 2,
        "checkpoint_interval": 2, "num_workers": 0, "split#labeled": 0.5,
    }
    args = [torchrun, "--standalone", "--nnodes=1", "--nproc_per_node=2", "-m", "monai.bundle", "run",
            "--config_file", json.dumps(configs), "--meta_file", str(BUNDLE / "configs" / "metadata.json"),
            "--logging_file", str(BUNDLE / "configs" / "logging.conf")]
    for k, v in overrides.items():
        args += [f"--{k}", json.dumps(v) if not isinstance(v, str) else v]
    # the bundle folder first (its own modules), then this checkout's monai_ext (not another installed copy)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(BUNDLE), str(BUNDLE.parents[1])]))
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (tmp_path / "models" / "model.pt").is_file()
    state = torch.load(tmp_path / "models" / "resume" / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert state["trainer"]["iteration"] == 4
    assert not any(k.startswith("module.") for k in state["model"])  # a DDP-wrapped net is saved unwrapped
    assert "Key metric: val_mean_dice" in proc.stdout + proc.stderr
