# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""The MGCC bundle's three LDM stage configs (train_autoencoder, train_diffusion, generate + quick_ldm overlay) run
end to end at tiny size, pass check_properties and log to MLflow (one subprocess for the three stages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from monai.data import load_decathlon_datalist
from PIL import Image

from monai_ext.data import load_split, load_synthetic_items

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mgcc_us_segmentation"
WORKER = Path(__file__).resolve().with_name("ldm_stages_worker.py")


def test_three_stages(tmp_path):
    result_file = tmp_path / "result.json"
    # the bundle folder first (its own modules), then this checkout's monai_ext (not another installed copy)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(BUNDLE), str(BUNDLE.parents[1])]))
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(BUNDLE), str(tmp_path / "work"), str(result_file)],
        cwd=str(BUNDLE), env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    stages = json.loads(result_file.read_text())["stages"]
    # 9 training images (16 phantom images, 20 % val, 20 % test by patient), batch 4: 3 iterations per epoch
    for name in ("train_autoencoder", "train_diffusion", "generate"):
        assert stages[name]["properties"] == [], name
        assert stages[name]["mlflow_runs"] == 1, name
    assert stages["train_autoencoder"]["iterations"] == 3
    assert stages["train_diffusion"]["iterations"] == 3 and stages["train_diffusion"]["scale_factor"] == 1.0
    assert stages["generate"]["iterations"] == 1  # 3 samples, batch 4
    assert "train_loss" in stages["train_autoencoder"]["mlflow_metrics"]
    assert {"train_loss", "latent_std"} <= set(stages["train_diffusion"]["mlflow_metrics"])
    assert "nn_rmse" in stages["generate"]["mlflow_metrics"]
    assert stages["train_autoencoder"]["mlflow_params"]["stage"] == "autoencoder"
    assert stages["generate"]["mlflow_params"]["num_samples"] == "3"

    gen = stages["generate"]
    for key in ("autoencoder_file", "diffusion_file", "latent_stats_file"):
        assert Path(gen[key]).is_file()
    items = load_synthetic_items(gen["manifest"])
    assert [Path(x["image"]).name for x in items] == ["syn_0000.png", "syn_0001.png", "syn_0002.png"]
    for x in items:
        arr = np.asarray(Image.open(x["image"]))
        assert arr.dtype == np.uint8 and arr.shape == (48, 48)
    manifest = json.loads(Path(gen["manifest"]).read_text())
    derived = manifest["derived_split_file"]
    assert Path(derived).name == Path(gen["split_path"]).stem + "_syn3.json"
    split = load_split(derived)
    assert sum(bool(x.get("synthetic")) for x in split["training"]) == 3
    assert len(load_decathlon_datalist(derived, True, "training", gen["data_root"])) == len(split["training"])
