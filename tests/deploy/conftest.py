# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Fixtures of the deployment tests: every bundle's network exported at tiny size, and a small trained U-Net.

Exported networks are randomly initialised, then their batch-norm statistics are re-estimated on phantom frames
(train-mode forward passes, cumulative averages): with MONAI's default statistics a random network's logits are tiny
and every mask is empty, so backends would "agree" on nothing. The trained U-Net (supervised bundle, cardiac phantom,
150 iterations at 64 px) is what the int8 acceptance test needs: a network whose masks mean something.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = sorted(p.parent.parent for p in (ROOT / "bundles").glob("*/configs/inference.json"))
SIZE = 64


def tiny_overrides(bundle: Path) -> dict:
    """Narrow widths at 64 px for whatever size keys the bundle's inference.json has; the cardiac task (3
    structures) where the bundle offers it."""
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    out: dict = {"image_size": [SIZE, SIZE]}
    if "features" in config:
        out["features"] = [4, 8, 16, 32, 64]
    if "dim_mult" in config:
        out["dim_mult"] = 1
    if "decoder_channels" in config:  # SABR-Net model C: its quick config's sizes
        out.update(dim=16, num_heads=2, depths=[1, 2, 2, 2, 1], decoder_channels=16, head_channels=16)
    if "cardiac" in config.get("structure_codes", {"cardiac": None}):
        out["task"] = "cardiac"
    return out


def reestimate_batchnorm(network: torch.nn.Module, images: torch.Tensor) -> torch.nn.Module:
    """Set every batch-norm layer's running statistics to those of ``images`` (N, C, H, W); eval mode after."""
    for m in network.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the forward passes
    network.train()
    with torch.no_grad():
        network(images)
    return network.eval()


@pytest.fixture(scope="session")
def phantom_clip(tmp_path_factory) -> Path:
    from monai_ext.io import write_phantom_clip

    clip, _ = write_phantom_clip(tmp_path_factory.mktemp("clip") / "clip.dcm", frames=4, size=SIZE, seed=1)
    return clip


@pytest.fixture(scope="session")
def exported_bundles(tmp_path_factory, phantom_clip) -> dict:
    """bundle name -> {"bundle", "overrides", "ckpt", "onnx", "report"}: each bundle's network_def at tiny size,
    batch-norm statistics from the phantom clip, saved as a checkpoint and exported with export_bundle_onnx."""
    from monai_ext.data import list_inference_inputs
    from monai_ext.deploy import export_bundle_onnx
    from monai_ext.deploy.bundle_config import read_inference_config

    out = {}
    for bundle in BUNDLES:
        work = tmp_path_factory.mktemp(bundle.name)
        overrides = tiny_overrides(bundle)
        parser = read_inference_config(bundle, overrides)
        preprocessing = parser.get_parsed_content("preprocessing")
        frames = torch.stack([preprocessing(it)["image"] for it in list_inference_inputs(phantom_clip)]).float()
        torch.manual_seed(0)
        network = reestimate_batchnorm(parser.get_parsed_content("network_def"), frames.as_tensor())
        ckpt = work / "model.pt"
        torch.save(network.state_dict(), ckpt)
        report = export_bundle_onnx(bundle, work / "model.onnx", ckpt, overrides)
        out[bundle.name] = {"bundle": bundle, "overrides": overrides, "ckpt": ckpt, "onnx": work / "model.onnx",
                            "report": report, "frames": frames}
    return out


@pytest.fixture(scope="session")
def trained_unet(tmp_path_factory) -> dict:
    """The supervised bundle trained for 150 iterations on a 60-image 64 px cardiac phantom (all labelled), exported.

    Returns {"bundle", "overrides", "split", "ckpt", "onnx", "work"}.
    """
    from monai_ext.data import write_phantom_dataset
    from monai_ext.deploy import export_bundle_onnx

    work = tmp_path_factory.mktemp("trained_unet")
    bundle = ROOT / "bundles" / "supervised_us_segmentation"
    data = write_phantom_dataset(work / "data", task="cardiac", num=60, size=SIZE, seed=3)
    overrides = {"task": "cardiac", "image_size": [SIZE, SIZE], "features": [16, 32, 64, 128, 256]}
    args = {**overrides, "dataset_dir": str(data), "ckpt_dir": str(work / "models"),
            "output_dir": f"$'{work / 'eval'}'",
            "labeled_batch_size": 8, "max_iterations": 150, "val_interval": 150, "checkpoint_interval": 150,
            "num_workers": 0, "split#labeled": 1.0, "learning_rate": 0.03}
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json",
           "--meta_file", "configs/metadata.json", "--bundle_root", str(bundle)]
    for key, value in args.items():
        cmd += [f"--{key}", json.dumps(value) if not isinstance(value, str) else value]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    proc = subprocess.run(cmd, cwd=bundle, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ckpt = work / "models" / "model.pt"
    export_bundle_onnx(bundle, work / "model.onnx", ckpt, overrides)
    split = next((data / "splits").glob("*.json"))
    return {"bundle": bundle, "overrides": overrides, "split": split, "ckpt": ckpt, "onnx": work / "model.onnx",
            "work": work}
